export { provisionRedisCluster } from './provision-redis-cluster';
