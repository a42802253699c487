/** Running a production spec on one machine: hosts mapped to a local address, a local S3 store and folders. */
import YAML from 'yaml';
import { type ClusterSpec, type ClusterSpecInput, parseClusterSpec } from './schema';

export interface LocalizeOptions {
  /** Address every node binds, announces and is reached at. @default "127.0.0.1" */
  host?: string;
  /** Endpoint of the local S3-compatible store, e.g. http://127.0.0.1:8333. */
  s3Endpoint?: string;
  /** Local folder for the nodes' config files (instead of /etc/redis). */
  configDir: string;
  /** Local folder for rendered configs' data. */
  dataDir?: string;
  /** New cluster name, e.g. to run beside another copy. */
  name?: string;
  /** Shift every port by this much (tests run the seed topology on free ports). @default 0 */
  portOffset?: number;
}

/** The same topology, on this machine. The result is validated like any spec. */
export function localizeSpec(spec: ClusterSpecInput, options: LocalizeOptions): ClusterSpec {
  const host = options.host ?? '127.0.0.1';
  const offset = options.portOffset ?? 0;
  return parseClusterSpec({
    ...spec,
    name: options.name ?? spec.name,
    configDir: options.configDir,
    dataDir: options.dataDir ?? spec.dataDir,
    s3: options.s3Endpoint ? { ...spec.s3, endpoint: options.s3Endpoint, forcePathStyle: true } : spec.s3,
    nodes: spec.nodes.map((node) => ({ ...node, host, adminHost: undefined, port: node.port + offset })),
    remove: spec.remove?.map((gone) => ({ ...gone, host, adminHost: undefined, port: gone.port + offset })),
  });
}

/** Reads a spec from JSON or YAML text (JSON is YAML, so one parser does both). */
export function parseSpecText(text: string): ClusterSpec {
  return parseClusterSpec(YAML.parse(text));
}
