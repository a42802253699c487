export { migrateRedisData, provisionRedisCluster } from './provision-redis-cluster';
