/**
 * Where the Redis registry connects: the shared Redis URL parser (plugins/_shared/redis_target.ts),
 * under the registry's names.
 *
 * @module
 */
export {
  DEFAULT_REDIS_PORT,
  parseRedisUrl,
  redactedUrl,
  redisNetPermission,
  RedisStoreError as RedisRegistryError,
  type RedisStoreErrorCode as RedisRegistryErrorCode,
  type RedisTarget,
} from "../_shared/redis_target.ts";
