/** The reshard suite (reshard-suite.ts) on Valkey 9.1.2 nodes: moves by CLUSTER MIGRATESLOTS jobs. */
import { reshardSuite } from './reshard-suite';

reshardSuite('valkey-server-9');
