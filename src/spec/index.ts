export * from './errors';
export * from './local';
export * from './migration';
export * from './redis-conf';
export * from './schema';
export * from './slots';
export * from './source-writes';
