-- bench/fcgi_post.lua: wrk script that POSTs one image file's bytes.
--   CUTOUT_BENCH_IMAGE=photo.jpg wrk -s bench/fcgi_post.lua http://127.0.0.1:PORT/remove
-- Runs in every wrk thread; the body is read once per thread, binary-safe.
local path = os.getenv("CUTOUT_BENCH_IMAGE")
local f = assert(io.open(path or "", "rb"), "set CUTOUT_BENCH_IMAGE to an image file")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
