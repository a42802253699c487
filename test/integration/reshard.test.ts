/** The reshard suite (reshard-suite.ts) on Redis 7.0 nodes: every move by the classic protocol. */
import { reshardSuite } from './reshard-suite';

reshardSuite('redis-server');
