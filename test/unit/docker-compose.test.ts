/**
 * No Docker engine runs here, so the deployment file is checked by reading it: the services exist, depend on
 * each other through healthchecks, and the worker gets what it needs to reach Temporal and S3.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { WORKER_HEAP_FLAG } from '../../src/settings';
import { SEARCH_ATTRIBUTES } from '../../src/model';

interface Service {
  image?: string;
  build?: string;
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  network_mode?: string;
  command?: string[];
}

const compose = YAML.parse(readFileSync(path.join(__dirname, '../../docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
};
const services = compose.services;
const root = path.join(__dirname, '../..');
const publishedPort = (service: Service, port: number) =>
  (service.ports ?? []).some((p) => p.split(':')[0] === String(port));

test('the deployment shape: PostgreSQL, Temporal, its UI, an S3 store and our worker', () => {
  expect(Object.keys(services).sort()).toEqual([
    'grafana',
    'postgresql',
    'prometheus',
    'register-search-attributes',
    's3',
    'temporal',
    'temporal-schema',
    'temporal-ui',
    'worker',
  ]);
  expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  expect(services['temporal-ui']!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
  for (const name of ['postgresql', 's3']) expect(services[name]!.healthcheck?.test.length).toBeGreaterThan(0);
  // The server image, not the development-only auto-setup, on a schema set up by temporal-sql-tool first.
  expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
  expect(services.temporal!.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
  expect(services['temporal-schema']!.depends_on?.postgresql?.condition).toBe('service_healthy');
  const schema = services['temporal-schema']!.command!.join(' ');
  for (const db of ['temporal', 'temporal_visibility'])
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema -d'])
      expect(schema).toContain(`--db ${db} ${step}`);
});

test('the worker is built here and reaches Temporal and S3 on their published ports', () => {
  const worker = services.worker!;
  expect(worker.build).toBe('.');
  expect(worker.depends_on?.s3?.condition).toBe('service_healthy');
  // On the host network (it reaches the nodes): service names do not resolve, published ports do.
  expect(worker.network_mode).toBe('host');
  // No Redis node lives in the container: node-local steps go to host workers.
  expect(worker.environment!.RCO_CLUSTER_ONLY).toBe('1');
  expect((worker as Service & { volumes?: string[] }).volumes ?? []).toEqual([]);
  const [, temporalPort] = worker.environment!.TEMPORAL_ADDRESS!.split(':');
  expect(publishedPort(services.temporal!, Number(temporalPort))).toBe(true);
  const s3Port = new URL(worker.environment!.RCO_S3_ENDPOINT!).port;
  expect(publishedPort(services.s3!, Number(s3Port))).toBe(true);
  expect(worker.environment).toHaveProperty('AWS_REGION');
  const dockerfile = readFileSync(path.join(__dirname, '../../Dockerfile'), 'utf8');
  expect(dockerfile).toMatch(/redis-server/);
  expect(dockerfile).toContain(`CMD ["node", "${WORKER_HEAP_FLAG}", "lib/worker.js"]`);
  expect(dockerfile).toContain(`RCO_WORKFLOW_BUNDLE=/app/lib/workflow-bundle.js`);
  const scripts = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')).scripts;
  expect(scripts.worker).toContain(WORKER_HEAP_FLAG);
  expect(scripts.build).toContain('scripts/bundle-workflows.ts');
});

test("Prometheus scrapes the worker's metrics port, and the dashboard charts only metrics that exist", () => {
  const metricsPort = services.worker!.environment!.RCO_METRICS_ADDRESS!.split(':')[1];
  const prometheus = YAML.parse(readFileSync(path.join(root, 'examples/prometheus.yml'), 'utf8')) as {
    scrape_configs: { static_configs: { targets: string[] }[] }[];
  };
  const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
  expect(targets).toContain(`host.docker.internal:${metricsPort}`);
  const mounts = (services.prometheus as Service & { volumes: string[] }).volumes;
  expect(mounts).toContain('./examples/prometheus.yml:/etc/prometheus/prometheus.yml:ro');

  const dashboard = JSON.parse(
    readFileSync(path.join(root, 'examples/grafana/redis-cluster-orchestrator.json'), 'utf8'),
  ) as { panels: { targets: { expr: string }[] }[] };
  const recorded = readFileSync(path.join(root, 'src/runtime/metrics.ts'), 'utf8');
  const charted = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/rco_[a-z_]+/g) ?? []));
  expect(charted.length).toBeGreaterThan(8);
  for (const name of charted) expect(recorded).toContain(`'${name.replace(/_(bucket|count|sum)$/, '')}'`);
  for (const mount of (services.grafana as Service & { volumes: string[] }).volumes)
    expect(existsSync(path.join(root, mount.split(':')[0]!))).toBe(true);
});

test('our search attributes are registered before the worker starts', () => {
  const register = services['register-search-attributes']!;
  // It waits for the server to answer, then creates the namespace (the server image creates none) if missing.
  expect(register.command!.join(' ')).toMatch(/^until temporal operator cluster health/);
  expect(register.command!.join(' ')).toContain('temporal operator namespace create --namespace default');
  expect(services.worker!.depends_on?.['register-search-attributes']?.condition).toBe('service_completed_successfully');
  const command = register.command!.join(' ');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES))
    expect(command).toContain(`--name ${name} --type ${type}`);
  // test/integration/temporal-cli.test.ts runs this command against a real dev server, twice.
});
