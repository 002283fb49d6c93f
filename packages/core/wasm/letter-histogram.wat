;; Byte histogram kernel behind the A–Z letter counter (host side: src/count-kernel-wasm.ts).
;;
;; The host copies a block of input into this module's memory, calls `histogram`, and after the
;; last block folds the letter cells into its own double-precision totals and zeroes the tables.
;; Counting every byte value (not just letters) keeps the hot loop free of branches and case
;; folding; the 26 letters are picked out once per call, in JavaScript.
;;
;; Memory (fixed size, so views the host keeps over it never detach):
;;   [0, 8192)          8 tables x 256 u32 cells, cell b of table t at 1024 * t + 4 * b
;;   [65536, 327680)    the input block
;;
;; Byte k of each 8-byte word goes to table k, so increments that follow each other never hit the
;; same cell: a single table would make every repeated byte wait on the store of the one before it.
;; Cells are 32 bits; the host folds them before 2^32 bytes have been counted, so none can wrap.
(module
  (memory (export "memory") 5 5)
  (global (export "input_offset") i32 (i32.const 65536))
  (global (export "input_capacity") i32 (i32.const 262144))

  ;; Adds the bytes [$ptr, $ptr + $len) to the tables.
  (func (export "histogram") (param $ptr i32) (param $len i32)
    (local $end i32)
    (local $word i64)
    (local $cell i32)

    ;; 16 bytes per iteration: two 8-byte words, byte k of either word into table k.
    (local.set $end (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const -16))))
    (block $words_done
      (loop $words
        (br_if $words_done (i32.ge_u (local.get $ptr) (local.get $end)))

        (local.set $word (i64.load offset=0 (local.get $ptr)))
        ;; $cell = 4 * byte: shifting by 8k - 2 and masking with 0x3fc scales the byte in one step.
        (local.set $cell
          (i32.and (i32.shl (i32.wrap_i64 (local.get $word)) (i32.const 2)) (i32.const 0x3fc)))
        (i32.store offset=0 (local.get $cell)
          (i32.add (i32.load offset=0 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 6))) (i32.const 0x3fc)))
        (i32.store offset=1024 (local.get $cell)
          (i32.add (i32.load offset=1024 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 14))) (i32.const 0x3fc)))
        (i32.store offset=2048 (local.get $cell)
          (i32.add (i32.load offset=2048 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 22))) (i32.const 0x3fc)))
        (i32.store offset=3072 (local.get $cell)
          (i32.add (i32.load offset=3072 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 30))) (i32.const 0x3fc)))
        (i32.store offset=4096 (local.get $cell)
          (i32.add (i32.load offset=4096 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 38))) (i32.const 0x3fc)))
        (i32.store offset=5120 (local.get $cell)
          (i32.add (i32.load offset=5120 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 46))) (i32.const 0x3fc)))
        (i32.store offset=6144 (local.get $cell)
          (i32.add (i32.load offset=6144 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 54))) (i32.const 0x3fc)))
        (i32.store offset=7168 (local.get $cell)
          (i32.add (i32.load offset=7168 (local.get $cell)) (i32.const 1)))

        (local.set $word (i64.load offset=8 (local.get $ptr)))
        (local.set $cell
          (i32.and (i32.shl (i32.wrap_i64 (local.get $word)) (i32.const 2)) (i32.const 0x3fc)))
        (i32.store offset=0 (local.get $cell)
          (i32.add (i32.load offset=0 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 6))) (i32.const 0x3fc)))
        (i32.store offset=1024 (local.get $cell)
          (i32.add (i32.load offset=1024 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 14))) (i32.const 0x3fc)))
        (i32.store offset=2048 (local.get $cell)
          (i32.add (i32.load offset=2048 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 22))) (i32.const 0x3fc)))
        (i32.store offset=3072 (local.get $cell)
          (i32.add (i32.load offset=3072 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 30))) (i32.const 0x3fc)))
        (i32.store offset=4096 (local.get $cell)
          (i32.add (i32.load offset=4096 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 38))) (i32.const 0x3fc)))
        (i32.store offset=5120 (local.get $cell)
          (i32.add (i32.load offset=5120 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 46))) (i32.const 0x3fc)))
        (i32.store offset=6144 (local.get $cell)
          (i32.add (i32.load offset=6144 (local.get $cell)) (i32.const 1)))
        (local.set $cell
          (i32.and (i32.wrap_i64 (i64.shr_u (local.get $word) (i64.const 54))) (i32.const 0x3fc)))
        (i32.store offset=7168 (local.get $cell)
          (i32.add (i32.load offset=7168 (local.get $cell)) (i32.const 1)))

        (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
        (br $words)))

    ;; The last 0–15 bytes, one at a time into table 0.
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $len) (i32.const 15))))
    (block $bytes_done
      (loop $bytes
        (br_if $bytes_done (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $cell (i32.shl (i32.load8_u (local.get $ptr)) (i32.const 2)))
        (i32.store (local.get $cell) (i32.add (i32.load (local.get $cell)) (i32.const 1)))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $bytes)))))
