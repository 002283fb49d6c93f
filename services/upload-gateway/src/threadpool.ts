// Every upload is several filesystem calls (open, write, close, rename, sometimes mkdir/unlink),
// all on libuv's threadpool, which has 4 threads by default: under concurrent uploads they queue
// behind each other. This must run before the pool is first used, hence its own first import.
process.env.UV_THREADPOOL_SIZE ??= '16';
