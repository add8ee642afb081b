/* The scripts (jobs_redis_lua.h): what each takes and answers. */
#include "jobs_redis_lua.h"

#define P JR_PREFIX

/* Helpers every script starts with. An entry of the queue and of a
 * processing list is "ID:INDEX". */
#define LUA_HEAD \
    "local P = '" P "'\n" \
    "local function jk(id) return P .. 'job:' .. id end\n" \
    "local function ik(id, i) return P .. 'job:' .. id .. ':item:' .. i end\n" \
    /* the item of entry e, running for owner o, queued again at the head */ \
    "local function requeue(e, o)\n" \
    "  local id, i = string.match(e, '^(%x+):(%d+)$')\n" \
    "  if not id or redis.call('EXISTS', jk(id)) == 0 then return false end\n" \
    "  local st = redis.call('HMGET', ik(id, i), 'status', 'owner')\n" \
    "  if st[1] ~= 'running' or st[2] ~= o then return false end\n" \
    "  redis.call('HSET', ik(id, i), 'status', 'queued', 'owner', '')\n" \
    "  redis.call('HINCRBY', jk(id), 'r', -1)\n" \
    "  redis.call('HINCRBY', jk(id), 'q', 1)\n" \
    "  redis.call('RPUSH', P .. 'queue', e)\n" \
    "  return true\n" \
    "end\n" \
    /* every key of job id lives ttl ms from now */ \
    "local function expire_all(id, ttl, expires)\n" \
    "  local k = jk(id)\n" \
    "  local total = tonumber(redis.call('HGET', k, 'total') or '0')\n" \
    "  redis.call('HSET', k, 'expires', expires)\n" \
    "  redis.call('PEXPIRE', k, ttl)\n" \
    "  for i = 0, total - 1 do\n" \
    "    local res = redis.call('HGET', ik(id, i), 'result')\n" \
    "    redis.call('PEXPIRE', ik(id, i), ttl)\n" \
    "    redis.call('PEXPIRE', k .. ':in-' .. i, ttl)\n" \
    "    if res and res ~= '' then redis.call('PEXPIRE', k .. ':' .. res, ttl) end\n" \
    "  end\n" \
    "end\n"

/* ARGV: id created expires total options ttl_ms, then name in_bytes per item. */
const char lua_create[] = LUA_HEAD
    "local id, n, ttl = ARGV[1], tonumber(ARGV[4]), ARGV[6]\n"
    "local k = jk(id)\n"
    "if redis.call('EXISTS', k) == 1 then return redis.error_reply('job id taken') end\n"
    "local inb = 0\n"
    "for i = 0, n - 1 do\n"
    "  redis.call('HSET', ik(id, i), 'name', ARGV[7 + 2 * i], 'status', 'queued', 'owner', '',\n"
    "             'http', 0, 'code', '', 'error', '', 'result', '', 'ctype', '', 'model', '',\n"
    "             'in_bytes', ARGV[8 + 2 * i], 'out_bytes', 0)\n"
    "  redis.call('PEXPIRE', ik(id, i), ttl)\n"
    "  inb = inb + tonumber(ARGV[8 + 2 * i])\n"
    "end\n"
    "redis.call('HSET', k, 'created', ARGV[2], 'started', 0, 'finished', 0, 'expires', ARGV[3],\n"
    "           'total', n, 'cancelled', 0, 'options', ARGV[5], 'q', n, 'r', 0, 'd', 0, 'f', 0,\n"
    "           'c', 0, 'in_bytes', inb, 'out_bytes', 0)\n"
    "redis.call('PEXPIRE', k, ttl)\n"
    "redis.call('ZADD', P .. 'jobs', ARGV[2], id)\n"
    "for i = 0, n - 1 do redis.call('LPUSH', P .. 'queue', id .. ':' .. i) end\n"
    "return 0\n";

/* ARGV: owner max now lease_ms. What the owner still holds goes back
 * first: claim runs between batches, so it is a finish or a release that
 * never reached Redis. Stale entries (job cancelled or expired, item
 * taken) are dropped. Returns id, index, options per item. */
const char lua_claim[] = LUA_HEAD
    "local o, max, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]\n"
    "local proc = P .. 'proc:' .. o\n"
    "redis.call('SET', P .. 'lease:' .. o, '1', 'PX', ARGV[4])\n"
    "redis.call('SADD', P .. 'owners', o)\n"
    "for _, e in ipairs(redis.call('LRANGE', proc, 0, -1)) do requeue(e, o) end\n"
    "redis.call('DEL', proc)\n"
    "local out, tries = {}, 0\n"
    "while #out < 3 * max and tries < 10 * max + 100 do\n"
    "  tries = tries + 1\n"
    "  local e = redis.call('LMOVE', P .. 'queue', proc, 'RIGHT', 'LEFT')\n"
    "  if not e then break end\n"
    "  local id, i = string.match(e, '^(%x+):(%d+)$')\n"
    "  local keep = false\n"
    "  if id then\n"
    "    local j = redis.call('HMGET', jk(id), 'cancelled', 'options', 'started')\n"
    "    if j[1] == '0' and redis.call('HGET', ik(id, i), 'status') == 'queued' then\n"
    "      redis.call('HSET', ik(id, i), 'status', 'running', 'owner', o)\n"
    "      redis.call('HINCRBY', jk(id), 'q', -1)\n"
    "      redis.call('HINCRBY', jk(id), 'r', 1)\n"
    "      if j[3] == '0' then redis.call('HSET', jk(id), 'started', now) end\n"
    "      out[#out + 1] = id\n"
    "      out[#out + 1] = i\n"
    "      out[#out + 1] = j[2]\n"
    "      keep = true\n"
    "    end\n"
    "  end\n"
    "  if not keep then redis.call('LREM', proc, 1, e) end\n"
    "end\n"
    "return out\n";

/* ARGV: owner id index now ttl_ms expires status result ctype model
 * out_bytes http code error data. 1 when the owner no longer holds the
 * item: nothing is recorded. The last item of a job starts its time to
 * live (every key). */
const char lua_finish[] = LUA_HEAD
    "local o, id, i = ARGV[1], ARGV[2], ARGV[3]\n"
    "local k, it = jk(id), ik(id, i)\n"
    "redis.call('LREM', P .. 'proc:' .. o, 1, id .. ':' .. i)\n"
    "local st = redis.call('HMGET', it, 'status', 'owner')\n"
    "if st[1] ~= 'running' or st[2] ~= o or redis.call('EXISTS', k) == 0 then return 1 end\n"
    "redis.call('HINCRBY', k, 'r', -1)\n"
    "if ARGV[7] == 'done' then\n"
    "  local left = redis.call('PTTL', k)\n"
    "  if left <= 0 then left = tonumber(ARGV[5]) end\n"
    "  redis.call('SET', k .. ':' .. ARGV[8], ARGV[15], 'PX', left)\n"
    "  redis.call('HSET', it, 'status', 'done', 'owner', '', 'result', ARGV[8], 'ctype', ARGV[9],\n"
    "             'model', ARGV[10], 'out_bytes', ARGV[11], 'http', 0, 'code', '', 'error', '')\n"
    "  redis.call('HINCRBY', k, 'd', 1)\n"
    "  redis.call('HINCRBY', k, 'out_bytes', ARGV[11])\n"
    "else\n"
    "  redis.call('HSET', it, 'status', 'failed', 'owner', '', 'http', ARGV[12], 'code', ARGV[13],\n"
    "             'error', ARGV[14])\n"
    "  redis.call('HINCRBY', k, 'f', 1)\n"
    "end\n"
    "local c = redis.call('HMGET', k, 'q', 'r')\n"
    "if c[1] == '0' and c[2] == '0' then\n"
    "  redis.call('HSET', k, 'finished', ARGV[4])\n"
    "  expire_all(id, ARGV[5], ARGV[6])\n"
    "end\n"
    "return 0\n";

/* ARGV: owner id index. */
const char lua_release[] = LUA_HEAD
    "local e = ARGV[2] .. ':' .. ARGV[3]\n"
    "redis.call('LREM', P .. 'proc:' .. ARGV[1], 1, e)\n"
    "requeue(e, ARGV[1])\n"
    "return 0\n";

/* ARGV: id now ttl_ms expires. 1: unknown. Queue entries of cancelled
 * items stay, and are dropped when claimed. */
const char lua_cancel[] = LUA_HEAD
    "local id = ARGV[1]\n"
    "local k = jk(id)\n"
    "if redis.call('EXISTS', k) == 0 then return 1 end\n"
    "redis.call('HSET', k, 'cancelled', 1)\n"
    "if redis.call('HGET', k, 'finished') == '0' then redis.call('HSET', k, 'finished', ARGV[2]) end\n"
    "for i = 0, tonumber(redis.call('HGET', k, 'total')) - 1 do\n"
    "  local s = redis.call('HGET', ik(id, i), 'status')\n"
    "  if s == 'queued' or s == 'running' then\n"
    "    redis.call('HSET', ik(id, i), 'status', 'cancelled', 'owner', '')\n"
    "    redis.call('HINCRBY', k, s == 'queued' and 'q' or 'r', -1)\n"
    "    redis.call('HINCRBY', k, 'c', 1)\n"
    "  end\n"
    "end\n"
    "expire_all(id, ARGV[3], ARGV[4])\n"
    "return 0\n";

/* ARGV: id ttl_ms expires. The count queued again; -1 unknown; -2 cancelled. */
const char lua_retry[] = LUA_HEAD
    "local id = ARGV[1]\n"
    "local k = jk(id)\n"
    "if redis.call('EXISTS', k) == 0 then return -1 end\n"
    "if redis.call('HGET', k, 'cancelled') == '1' then return -2 end\n"
    "local n = 0\n"
    "for i = 0, tonumber(redis.call('HGET', k, 'total')) - 1 do\n"
    "  if redis.call('HGET', ik(id, i), 'status') == 'failed' then\n"
    "    redis.call('HSET', ik(id, i), 'status', 'queued', 'http', 0, 'code', '', 'error', '')\n"
    "    redis.call('LPUSH', P .. 'queue', id .. ':' .. i)\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "if n > 0 then\n"
    "  redis.call('HINCRBY', k, 'f', -n)\n"
    "  redis.call('HINCRBY', k, 'q', n)\n"
    "  redis.call('HSET', k, 'finished', 0)\n"
    "  expire_all(id, ARGV[2], ARGV[3])\n"
    "end\n"
    "return n\n";

/* Owners whose lease expired: their items queued again. The count. */
const char lua_requeue_dead[] = LUA_HEAD
    "local n = 0\n"
    "for _, o in ipairs(redis.call('SMEMBERS', P .. 'owners')) do\n"
    "  if redis.call('EXISTS', P .. 'lease:' .. o) == 0 then\n"
    "    local proc = P .. 'proc:' .. o\n"
    "    for _, e in ipairs(redis.call('LRANGE', proc, 0, -1)) do\n"
    "      if requeue(e, o) then n = n + 1 end\n"
    "    end\n"
    "    redis.call('DEL', proc)\n"
    "    redis.call('SREM', P .. 'owners', o)\n"
    "  end\n"
    "end\n"
    "return n\n";

/* Entries queued or claimed (those of cancelled items until claimed too). */
const char lua_pending[] = LUA_HEAD
    "local n = redis.call('LLEN', P .. 'queue')\n"
    "for _, o in ipairs(redis.call('SMEMBERS', P .. 'owners')) do\n"
    "  n = n + redis.call('LLEN', P .. 'proc:' .. o)\n"
    "end\n"
    "return n\n";

/* ARGV: id items(0|1). {} unknown; else {job fields, item fields...}. */
const char lua_get[] = LUA_HEAD
    "local k = jk(ARGV[1])\n"
    "local j = redis.call('HGETALL', k)\n"
    "if #j == 0 then return {} end\n"
    "local out = {j}\n"
    "if ARGV[2] == '1' then\n"
    "  for i = 0, tonumber(redis.call('HGET', k, 'total')) - 1 do\n"
    "    out[#out + 1] = redis.call('HGETALL', ik(ARGV[1], i))\n"
    "  end\n"
    "end\n"
    "return out\n";

/* ARGV: start count. {checked, ids gone...}: listing entries of jobs whose
 * keys expired, removed. */
const char lua_expire[] = LUA_HEAD
    "local ids = redis.call('ZRANGE', P .. 'jobs', ARGV[1], ARGV[1] + ARGV[2] - 1)\n"
    "local out = {#ids}\n"
    "for _, id in ipairs(ids) do\n"
    "  if redis.call('EXISTS', jk(id)) == 0 then\n"
    "    redis.call('ZREM', P .. 'jobs', id)\n"
    "    out[#out + 1] = id\n"
    "  end\n"
    "end\n"
    "return out\n";

/* The counts of every job: 10 numbers per job. */
const char lua_stats[] = LUA_HEAD
    "local out = {}\n"
    "for _, id in ipairs(redis.call('ZRANGE', P .. 'jobs', 0, -1)) do\n"
    "  local v = redis.call('HMGET', jk(id), 'total', 'cancelled', 'q', 'r', 'd', 'f', 'c',\n"
    "                       'started', 'in_bytes', 'out_bytes')\n"
    "  if v[1] then for _, x in ipairs(v) do out[#out + 1] = x end end\n"
    "end\n"
    "return out\n";

/* ARGV: id. Every input and result of the job deleted; inputs of a job
 * that was never created (its creation failed) from in-0 on. */
const char lua_blob_remove[] = LUA_HEAD
    "local id = ARGV[1]\n"
    "local k = jk(id)\n"
    "local total = tonumber(redis.call('HGET', k, 'total') or '-1')\n"
    "if total < 0 then\n"
    "  local i = 0\n"
    "  while redis.call('DEL', k .. ':in-' .. i) == 1 do i = i + 1 end\n"
    "  return 0\n"
    "end\n"
    "for i = 0, total - 1 do\n"
    "  redis.call('DEL', k .. ':in-' .. i)\n"
    "  local res = redis.call('HGET', ik(id, i), 'result')\n"
    "  if res and res ~= '' then redis.call('DEL', k .. ':' .. res) end\n"
    "end\n"
    "redis.call('HSET', k, 'in_bytes', 0, 'out_bytes', 0)\n"
    "return 0\n";
