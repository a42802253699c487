export { migrateRedisData } from './migrate-redis-data';
export { provisionRedisCluster } from './provision-redis-cluster';
