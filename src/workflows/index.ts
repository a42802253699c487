export { migrateRedisData } from './migrate-redis-data';
export { provisionRedisCluster } from './provision-redis-cluster';
export { repairRedisCluster } from './repair-redis-cluster';
export { failoverRedisCluster } from './failover-redis-cluster';
export { verifyRedisCluster } from './verify-redis-cluster';
