/**
 * The Lua scripts the Redis registry runs, so that a record, its entry in the
 * `all` index and the change message go together (one round trip, atomic).
 * Keys are built inside the scripts from the prefix: a standalone Redis (or a
 * primary with replicas), not Redis Cluster.
 *
 * Layout under the prefix P:
 * - `P rec:<peer id>`: the record as JSON, with a TTL (`PX`): Redis itself
 *   forgets an exit no hub renewed;
 * - `P all`: a sorted set of peer ids scored by when their record key
 *   expires, so listing reads only live ids (no `SCAN` over the database);
 * - channel `P changes`: one message per put or remove, which every hub's
 *   mirror applies.
 *
 * @module
 */

/**
 * Writes a record. ARGV: prefix, peer, record JSON, TTL ms, the record's
 * `lastSeenAt`, `"1"` to keep a stored record that is newer (restoring after
 * an outage never overwrites a fresher heartbeat), now (ms), the change
 * message. Returns 1 when written, 0 when a newer record was kept.
 */
export const PUT_SCRIPT = `
local prefix, peer = ARGV[1], ARGV[2]
local recKey = prefix .. 'rec:' .. peer
if ARGV[6] == '1' then
  local old = redis.call('GET', recKey)
  if old then
    local ok, record = pcall(cjson.decode, old)
    if ok and type(record) == 'table' and tonumber(record.lastSeenAt) ~= nil
      and tonumber(record.lastSeenAt) > tonumber(ARGV[5]) then
      return 0
    end
  end
end
local ttl = tonumber(ARGV[4])
local now = tonumber(ARGV[7])
redis.call('SET', recKey, ARGV[3], 'PX', ttl)
redis.call('ZADD', prefix .. 'all', now + ttl, peer)
redis.call('ZREMRANGEBYSCORE', prefix .. 'all', '-inf', '(' .. now)
redis.call('PUBLISH', prefix .. 'changes', ARGV[8])
return 1
`;

/** Removes a record. ARGV: prefix, peer, the change message. Returns 1 when there was one. */
export const REMOVE_SCRIPT = `
local prefix, peer = ARGV[1], ARGV[2]
local removed = redis.call('DEL', prefix .. 'rec:' .. peer)
redis.call('ZREM', prefix .. 'all', peer)
redis.call('PUBLISH', prefix .. 'changes', ARGV[3])
return removed
`;
