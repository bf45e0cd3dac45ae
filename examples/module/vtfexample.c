/*
 * vtfexample: a small, real Valkey module used to show (and test) how a module
 * is exercised with ValkeyTestFramework.
 *
 * A key of type "vtfexlist" holds a list of signed 64-bit counters:
 *
 *   EXLIST.PUSH key value [value ...]   append counters; returns the new length
 *   EXLIST.INCRBY key index delta       add delta to a counter; returns its new value
 *   EXLIST.GET key index                one counter (nil when the key does not exist)
 *   EXLIST.RANGE key                    all counters (empty array when no key)
 *   EXLIST.LEN key                      number of counters (0 when no key)
 *   EXLIST.SUM key                      sum of the counters
 *
 * Persistence: RDB save/load (encoding version 0) and an AOF rewrite callback
 * that emits EXLIST.PUSH commands. Writes are replicated verbatim. Every command
 * declares its key (first argument), so cluster routing works.
 *
 * Module arguments: "maxlen N" caps a list's length (default: unlimited);
 * any other argument makes loading fail.
 *
 * Uses only module API functions that exist in Valkey 8.0, so a module built
 * against the 8.1 valkeymodule.h loads into an 8.0 server.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#include "valkeymodule.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXLIST_ENCVER 0

static ValkeyModuleType *ExListType = NULL;
static long long max_len = 0; /* 0: unlimited */

typedef struct ExList {
    size_t len;
    size_t cap;
    long long *values;
} ExList;

static ExList *exlistCreate(void) {
    ExList *l = ValkeyModule_Alloc(sizeof(*l));
    l->len = 0;
    l->cap = 0;
    l->values = NULL;
    return l;
}

static void exlistFree(void *value) {
    ExList *l = value;
    if (!l) return;
    ValkeyModule_Free(l->values);
    ValkeyModule_Free(l);
}

static void exlistReserve(ExList *l, size_t want) {
    if (want <= l->cap) return;
    size_t cap = l->cap ? l->cap : 4;
    while (cap < want) cap *= 2;
    l->values = ValkeyModule_Realloc(l->values, cap * sizeof(long long));
    l->cap = cap;
}

/* Opens `keyname` for the command into *key (NULL for a missing key opened for
 * reading only). *list is NULL when the key does not exist. On a key of another
 * type, replies WRONGTYPE and returns VALKEYMODULE_ERR (nothing left open). */
static int openList(ValkeyModuleCtx *ctx, ValkeyModuleString *keyname, int mode, ValkeyModuleKey **key,
                    ExList **list) {
    *key = ValkeyModule_OpenKey(ctx, keyname, mode);
    *list = NULL;
    int type = ValkeyModule_KeyType(*key);
    if (type == VALKEYMODULE_KEYTYPE_EMPTY) return VALKEYMODULE_OK;
    if (type != VALKEYMODULE_KEYTYPE_MODULE || ValkeyModule_ModuleTypeGetType(*key) != ExListType) {
        ValkeyModule_CloseKey(*key);
        *key = NULL;
        ValkeyModule_ReplyWithError(ctx, VALKEYMODULE_ERRORMSG_WRONGTYPE);
        return VALKEYMODULE_ERR;
    }
    *list = ValkeyModule_ModuleTypeGetValue(*key);
    return VALKEYMODULE_OK;
}

/* Parses an index; negative indexes count from the end. Replies and returns
 * VALKEYMODULE_ERR when it is not an integer or out of range. */
static int parseIndex(ValkeyModuleCtx *ctx, ValkeyModuleString *arg, const ExList *l, size_t *index) {
    long long i;
    if (ValkeyModule_StringToLongLong(arg, &i) != VALKEYMODULE_OK) {
        ValkeyModule_ReplyWithError(ctx, "ERR index is not an integer");
        return VALKEYMODULE_ERR;
    }
    if (i < 0) i += (long long)l->len;
    if (i < 0 || (size_t)i >= l->len) {
        ValkeyModule_ReplyWithError(ctx, "ERR index out of range");
        return VALKEYMODULE_ERR;
    }
    *index = (size_t)i;
    return VALKEYMODULE_OK;
}

/* EXLIST.PUSH key value [value ...] */
static int PushCommand(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (argc < 3) return ValkeyModule_WrongArity(ctx);
    size_t n = (size_t)argc - 2;
    long long *parsed = ValkeyModule_Alloc(n * sizeof(long long));
    for (size_t i = 0; i < n; i++) {
        if (ValkeyModule_StringToLongLong(argv[i + 2], &parsed[i]) != VALKEYMODULE_OK) {
            ValkeyModule_Free(parsed);
            return ValkeyModule_ReplyWithError(ctx, "ERR value is not an integer");
        }
    }
    ExList *l;
    ValkeyModuleKey *key;
    if (openList(ctx, argv[1], VALKEYMODULE_READ | VALKEYMODULE_WRITE, &key, &l) == VALKEYMODULE_ERR) {
        ValkeyModule_Free(parsed);
        return VALKEYMODULE_OK;
    }
    size_t current = l ? l->len : 0;
    if (max_len > 0 && current + n > (size_t)max_len) {
        ValkeyModule_Free(parsed);
        ValkeyModule_CloseKey(key);
        return ValkeyModule_ReplyWithError(ctx, "ERR list would exceed maxlen");
    }
    if (!l) {
        l = exlistCreate();
        ValkeyModule_ModuleTypeSetValue(key, ExListType, l);
    }
    exlistReserve(l, l->len + n);
    memcpy(l->values + l->len, parsed, n * sizeof(long long));
    l->len += n;
    ValkeyModule_Free(parsed);
    ValkeyModule_CloseKey(key);
    ValkeyModule_ReplyWithLongLong(ctx, (long long)l->len);
    ValkeyModule_ReplicateVerbatim(ctx);
    return VALKEYMODULE_OK;
}

/* EXLIST.INCRBY key index delta */
static int IncrbyCommand(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (argc != 4) return ValkeyModule_WrongArity(ctx);
    long long delta;
    if (ValkeyModule_StringToLongLong(argv[3], &delta) != VALKEYMODULE_OK)
        return ValkeyModule_ReplyWithError(ctx, "ERR value is not an integer");
    ExList *l;
    ValkeyModuleKey *key;
    if (openList(ctx, argv[1], VALKEYMODULE_READ | VALKEYMODULE_WRITE, &key, &l) == VALKEYMODULE_ERR) return VALKEYMODULE_OK;
    if (!l) {
        ValkeyModule_CloseKey(key);
        return ValkeyModule_ReplyWithError(ctx, "ERR no such key");
    }
    size_t index;
    if (parseIndex(ctx, argv[2], l, &index) != VALKEYMODULE_OK) {
        ValkeyModule_CloseKey(key);
        return VALKEYMODULE_OK;
    }
    long long result;
    if (__builtin_add_overflow(l->values[index], delta, &result)) {
        ValkeyModule_CloseKey(key);
        return ValkeyModule_ReplyWithError(ctx, "ERR increment would overflow");
    }
    l->values[index] = result;
    ValkeyModule_CloseKey(key);
    ValkeyModule_ReplyWithLongLong(ctx, result);
    ValkeyModule_ReplicateVerbatim(ctx);
    return VALKEYMODULE_OK;
}

/* EXLIST.GET key index */
static int GetCommand(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (argc != 3) return ValkeyModule_WrongArity(ctx);
    ExList *l;
    ValkeyModuleKey *key;
    if (openList(ctx, argv[1], VALKEYMODULE_READ, &key, &l) == VALKEYMODULE_ERR) return VALKEYMODULE_OK;
    if (!l) {
        ValkeyModule_CloseKey(key);
        return ValkeyModule_ReplyWithNull(ctx);
    }
    size_t index;
    if (parseIndex(ctx, argv[2], l, &index) == VALKEYMODULE_OK) ValkeyModule_ReplyWithLongLong(ctx, l->values[index]);
    ValkeyModule_CloseKey(key);
    return VALKEYMODULE_OK;
}

/* EXLIST.RANGE key */
static int RangeCommand(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (argc != 2) return ValkeyModule_WrongArity(ctx);
    ExList *l;
    ValkeyModuleKey *key;
    if (openList(ctx, argv[1], VALKEYMODULE_READ, &key, &l) == VALKEYMODULE_ERR) return VALKEYMODULE_OK;
    size_t n = l ? l->len : 0;
    ValkeyModule_ReplyWithArray(ctx, (long)n);
    for (size_t i = 0; i < n; i++) ValkeyModule_ReplyWithLongLong(ctx, l->values[i]);
    ValkeyModule_CloseKey(key);
    return VALKEYMODULE_OK;
}

/* EXLIST.LEN key */
static int LenCommand(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (argc != 2) return ValkeyModule_WrongArity(ctx);
    ExList *l;
    ValkeyModuleKey *key;
    if (openList(ctx, argv[1], VALKEYMODULE_READ, &key, &l) == VALKEYMODULE_ERR) return VALKEYMODULE_OK;
    ValkeyModule_ReplyWithLongLong(ctx, l ? (long long)l->len : 0);
    ValkeyModule_CloseKey(key);
    return VALKEYMODULE_OK;
}

/* EXLIST.SUM key */
static int SumCommand(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (argc != 2) return ValkeyModule_WrongArity(ctx);
    ExList *l;
    ValkeyModuleKey *key;
    if (openList(ctx, argv[1], VALKEYMODULE_READ, &key, &l) == VALKEYMODULE_ERR) return VALKEYMODULE_OK;
    long long sum = 0;
    for (size_t i = 0; l && i < l->len; i++) {
        if (__builtin_add_overflow(sum, l->values[i], &sum)) {
            ValkeyModule_CloseKey(key);
            return ValkeyModule_ReplyWithError(ctx, "ERR sum would overflow");
        }
    }
    ValkeyModule_ReplyWithLongLong(ctx, sum);
    ValkeyModule_CloseKey(key);
    return VALKEYMODULE_OK;
}

/* ---- data type callbacks ---- */

static void *ExListRdbLoad(ValkeyModuleIO *rdb, int encver) {
    if (encver != EXLIST_ENCVER) {
        ValkeyModule_LogIOError(rdb, "warning", "vtfexample: cannot load encoding version %d", encver);
        return NULL;
    }
    ExList *l = exlistCreate();
    uint64_t n = ValkeyModule_LoadUnsigned(rdb);
    exlistReserve(l, (size_t)n);
    for (uint64_t i = 0; i < n; i++) l->values[i] = (long long)ValkeyModule_LoadSigned(rdb);
    l->len = (size_t)n;
    if (ValkeyModule_IsIOError(rdb)) {
        exlistFree(l);
        return NULL;
    }
    return l;
}

static void ExListRdbSave(ValkeyModuleIO *rdb, void *value) {
    const ExList *l = value;
    ValkeyModule_SaveUnsigned(rdb, l->len);
    for (size_t i = 0; i < l->len; i++) ValkeyModule_SaveSigned(rdb, l->values[i]);
}

/* Rebuilds the key with EXLIST.PUSH commands, at most 64 values per command. */
static void ExListAofRewrite(ValkeyModuleIO *aof, ValkeyModuleString *key, void *value) {
    const ExList *l = value;
    ValkeyModuleString *chunk[64];
    size_t i = 0;
    while (i < l->len) {
        size_t n = 0;
        for (; n < 64 && i < l->len; n++, i++) chunk[n] = ValkeyModule_CreateStringFromLongLong(NULL, l->values[i]);
        ValkeyModule_EmitAOF(aof, "EXLIST.PUSH", "sv", key, chunk, n);
        for (size_t j = 0; j < n; j++) ValkeyModule_FreeString(NULL, chunk[j]);
    }
}

static size_t ExListMemUsage(const void *value) {
    const ExList *l = value;
    return sizeof(*l) + l->cap * sizeof(long long);
}

static void ExListDigest(ValkeyModuleDigest *md, void *value) {
    const ExList *l = value;
    for (size_t i = 0; i < l->len; i++) ValkeyModule_DigestAddLongLong(md, l->values[i]);
    ValkeyModule_DigestEndSequence(md);
}

/* ---- loading ---- */

static int parseModuleArgs(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    for (int i = 0; i < argc; i++) {
        const char *name = ValkeyModule_StringPtrLen(argv[i], NULL);
        if (!strcasecmp(name, "maxlen") && i + 1 < argc) {
            long long v;
            if (ValkeyModule_StringToLongLong(argv[i + 1], &v) != VALKEYMODULE_OK || v < 0) {
                ValkeyModule_Log(ctx, "warning", "vtfexample: maxlen must be a non-negative integer");
                return VALKEYMODULE_ERR;
            }
            max_len = v;
            i++;
        } else {
            ValkeyModule_Log(ctx, "warning", "vtfexample: unknown module argument '%s'", name);
            return VALKEYMODULE_ERR;
        }
    }
    return VALKEYMODULE_OK;
}

static int createCommand(ValkeyModuleCtx *ctx, const char *name, ValkeyModuleCmdFunc fn, const char *flags) {
    /* firstkey 1, lastkey 1, step 1: the key is the first argument. */
    if (ValkeyModule_CreateCommand(ctx, name, fn, flags, 1, 1, 1) == VALKEYMODULE_ERR) {
        ValkeyModule_Log(ctx, "warning", "vtfexample: cannot create command %s", name);
        return VALKEYMODULE_ERR;
    }
    return VALKEYMODULE_OK;
}

int ValkeyModule_OnLoad(ValkeyModuleCtx *ctx, ValkeyModuleString **argv, int argc) {
    if (ValkeyModule_Init(ctx, "vtfexample", 1, VALKEYMODULE_APIVER_1) == VALKEYMODULE_ERR) return VALKEYMODULE_ERR;
    if (parseModuleArgs(ctx, argv, argc) == VALKEYMODULE_ERR) return VALKEYMODULE_ERR;

    ValkeyModuleTypeMethods tm = {
        .version = VALKEYMODULE_TYPE_METHOD_VERSION,
        .rdb_load = ExListRdbLoad,
        .rdb_save = ExListRdbSave,
        .aof_rewrite = ExListAofRewrite,
        .mem_usage = ExListMemUsage,
        .digest = ExListDigest,
        .free = exlistFree,
    };
    /* Type names are exactly 9 characters. */
    ExListType = ValkeyModule_CreateDataType(ctx, "vtfexlist", EXLIST_ENCVER, &tm);
    if (ExListType == NULL) return VALKEYMODULE_ERR;

    if (createCommand(ctx, "exlist.push", PushCommand, "write deny-oom") == VALKEYMODULE_ERR ||
        createCommand(ctx, "exlist.incrby", IncrbyCommand, "write deny-oom") == VALKEYMODULE_ERR ||
        createCommand(ctx, "exlist.get", GetCommand, "readonly fast") == VALKEYMODULE_ERR ||
        createCommand(ctx, "exlist.range", RangeCommand, "readonly") == VALKEYMODULE_ERR ||
        createCommand(ctx, "exlist.len", LenCommand, "readonly fast") == VALKEYMODULE_ERR ||
        createCommand(ctx, "exlist.sum", SumCommand, "readonly") == VALKEYMODULE_ERR)
        return VALKEYMODULE_ERR;
    return VALKEYMODULE_OK;
}
