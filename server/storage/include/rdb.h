/*
 * rdb.h - Redis's RDB file format, as Redis 7.0 writes it (version 10):
 * what ebb's snapshots are written in and what they, and Redis's own
 * files, are read from; and DUMP/RESTORE's payloads (layer 1, libc only).
 *
 * The module does no I/O of its own: a writer hands bytes to a callback, a
 * reader parses bytes the caller has in memory (the loader maps the file).
 *
 * A file: "REDIS0010", aux fields (opcode 250), then per database a
 * SELECTDB (254) and a RESIZEDB (251), then the keys, each an optional
 * EXPIRETIME_MS (252; EXPIRETIME 253 in old files), optional IDLE (248) or
 * FREQ (249), a type byte, the key string and the value; EOF (255) and the
 * CRC-64 of everything before it, little-endian (0: not computed, as
 * Redis's rdbchecksum no writes).
 *
 * ebb writes only string values (type 0), as plain strings: no integer or
 * LZF encoding (both optional in the format). It reads every encoding a
 * string may have (integers, LZF) and walks over every other type (lists,
 * sets, sorted sets, hashes, streams, in each of their encodings, and
 * module values that carry their own opcodes) so that the caller can count
 * and report them, and over function libraries and module aux data.
 */
#ifndef EBB_RDB_H
#define EBB_RDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The version ebb writes, and the newest it reads (Redis 7.0's). */
#define RDB_VERSION 10

/* CRC-64 as Redis computes it (crc64.c: the Jones polynomial, reflected,
 * no final xor); start with crc 0. */
uint64_t rdb_crc64(uint64_t crc, const void *p, size_t n);

/* ---- writing ---- */

/* Where written bytes go: returns 0, or an errno (ENOSPC, EIO...) that
 * stops the writer. */
typedef int (*rdb_sink)(void *ctx, const void *p, size_t n);

#define RDB_WRITE_BUF 65536

typedef struct {
    rdb_sink sink;
    void *ctx;
    uint64_t crc;   /* of every byte handed to the sink so far (after
                       rdb_write_end: but the checksum, i.e. the file's) */
    uint64_t bytes; /* handed to the sink so far */
    int err;        /* the sink's first error; later writes are dropped */
    /* The sink computes the checksum itself (on another thread, say): the
     * writer neither folds bytes into crc nor writes the 8-byte trailer;
     * the sink appends rdb_crc64 of every byte, little-endian, after the
     * EOF opcode rdb_write_end hands it. Set after rdb_writer_init. */
    bool sink_sums;
    size_t len; /* bytes in buf */
    uint8_t buf[RDB_WRITE_BUF];
} rdb_writer;

/* Caller-owned writer; nothing is written until the first call below. */
void rdb_writer_init(rdb_writer *w, rdb_sink sink, void *ctx);

/* "REDIS0010" and the aux fields Redis 7.0 writes first: redis-ver
 * (redis_ver), redis-bits (64), ctime (unix seconds), used-mem,
 * aof-base (0). */
void rdb_write_header(rdb_writer *w, const char *redis_ver, int64_t ctime, uint64_t used_mem);

/* One aux field (opcode 250): two strings. */
void rdb_write_aux(rdb_writer *w, const char *name, const void *val, size_t vlen);

/* SELECTDB db, then RESIZEDB with the database's key and TTL counts. */
void rdb_write_db(rdb_writer *w, unsigned db, uint64_t keys, uint64_t expires);

/* One string key: EXPIRETIME_MS when expire_ms >= 0 (absolute unix ms),
 * then type 0, the key, the value. */
void rdb_write_string(rdb_writer *w, const void *key, size_t klen, const void *val, size_t vlen,
                      int64_t expire_ms);

/* EOF and the checksum, then flush. Returns 0, or the first error of the
 * sink (for any call since init). */
int rdb_write_end(rdb_writer *w);

/* ---- reading ---- */

typedef enum {
    RDB_ITEM_STRING, /* a string key: key, val, expire_ms, idle, freq */
    RDB_ITEM_OTHER,  /* a key of another type, walked over: key, type */
    RDB_ITEM_AUX,    /* an aux field: key (its name), val */
    RDB_ITEM_SKIP,   /* something not a key (a function library, module
                        aux data), walked over: type is its opcode */
} rdb_item_kind;

typedef struct {
    rdb_item_kind kind;
    int type;    /* the RDB type byte (or opcode for SKIP) */
    unsigned db; /* the SELECTDB in force */
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;
    size_t vlen;
    int64_t expire_ms; /* absolute unix ms, -1: none */
    int64_t idle;      /* IDLE seconds, -1: none */
    int freq;          /* FREQ counter, -1: none */
} rdb_item;

typedef enum {
    RDB_NEXT, /* *item filled */
    RDB_END,  /* EOF reached and the checksum matched (or was 0) */
    RDB_ERROR /* the file is not valid RDB here: see rdb_reader.error, .offset */
} rdb_status;

typedef struct {
    const uint8_t *p; /* the whole file */
    size_t n;
    size_t pos;                           /* where the next item starts
                                             (SIZE_MAX after RDB_END) */
    int version;                          /* the file's, from its header */
    unsigned db;                          /* SELECTDB in force */
    uint64_t resize_keys, resize_expires; /* the last RESIZEDB's hint */
    char error[128];
    size_t offset; /* where the error was found */
    /* Decoded strings (LZF, integers) for the item just returned. */
    uint8_t *scratch[2];
    size_t scratch_cap[2];
    /* Set after rdb_reader_init to check the checksum yourself (computed
     * on another thread while the items are read): at RDB_END, stored_crc
     * is the file's checksum (0: the file has none) and it covers the
     * first crc_len bytes (always n - 8); compare it with
     * rdb_crc64(0, p, crc_len). Unset, RDB_END means the checksum
     * matched. */
    bool defer_crc;
    uint64_t stored_crc;
    size_t crc_len;
} rdb_reader;

/* Start reading the file p[0..n) (which must stay mapped while reading):
 * checks the header. RDB_NEXT when the header is good (call rdb_next),
 * RDB_ERROR otherwise (not RDB, or a version newer than RDB_VERSION). */
rdb_status rdb_reader_init(rdb_reader *r, const uint8_t *p, size_t n);
/* Free the scratch buffers. */
void rdb_reader_deinit(rdb_reader *r);

/* The next item. Its pointers are valid until the next call (they point
 * into the file, or into the reader's scratch for decoded strings).
 * RDB_ERROR names what is wrong and where: a truncation, an unknown type
 * or opcode, a bad encoding, a checksum mismatch (offset: the checksum's),
 * a module value without opcodes (type 6), running out of memory, bytes
 * after the checksum. RDB_END and RDB_ERROR are final: later calls return
 * them again. */
rdb_status rdb_next(rdb_reader *r, rdb_item *item);

/* ---- DUMP and RESTORE ---- */

/* A DUMP payload: the value's RDB serialization (type, then the string),
 * the RDB version as 2 bytes and the CRC-64 of all that as 8, little-endian. */
#define RDB_DUMP_MAX(vlen) (1 + 9 + (vlen) + 2 + 8)
/* Write the payload of string val into out (RDB_DUMP_MAX(vlen) bytes);
 * returns its length. */
size_t rdb_dump_string(const void *val, size_t vlen, uint8_t *out);

typedef enum {
    RDB_RESTORE_OK,
    RDB_RESTORE_BAD,       /* footer (version, checksum) or body not valid */
    RDB_RESTORE_NOT_STRING /* a valid payload of another type */
} rdb_restore_status;

/* Check payload p[0..n) and decode its string value: *val points into p or
 * into *scratch (malloc'd as needed, grown in place; the caller frees it),
 * *vlen its length. RDB_RESTORE_BAD covers what Redis answers with "ERR
 * DUMP payload version or checksum are wrong" and "Bad data format". */
rdb_restore_status rdb_restore_string(const uint8_t *p, size_t n, uint8_t **scratch,
                                      size_t *scratch_cap, const uint8_t **val, size_t *vlen);

#endif
