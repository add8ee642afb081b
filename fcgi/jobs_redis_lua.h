/* The Lua scripts of the Redis jobs store (jobs_redis.c; fcgi/README.md
 * "Redis"): each step that changes more than one key is one script, which
 * Redis runs atomically. Arguments are ARGV (no KEYS: a single Redis, not
 * Redis Cluster); every key starts with JR_PREFIX. */
#ifndef CUTOUT_FCGI_JOBS_REDIS_LUA_H
#define CUTOUT_FCGI_JOBS_REDIS_LUA_H

#define JR_PREFIX "cutout:"

extern const char lua_create[];
extern const char lua_claim[];
extern const char lua_finish[];
extern const char lua_release[];
extern const char lua_cancel[];
extern const char lua_retry[];
extern const char lua_requeue_dead[];
extern const char lua_pending[];
extern const char lua_get[];
extern const char lua_expire[];
extern const char lua_stats[];
extern const char lua_blob_remove[];

#endif
