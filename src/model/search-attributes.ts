/**
 * Our search attributes, name -> type, as `temporal server start-dev --search-attribute` and `temporal operator
 * search-attribute create` take them. RedisCluster is the spec's name, RedisClusterStep the step a run is on.
 */
export const SEARCH_ATTRIBUTES = { RedisCluster: 'Keyword', RedisClusterStep: 'Keyword' } as const;
