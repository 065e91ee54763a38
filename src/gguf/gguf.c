/*
 * gguf.c — strict GGUF v2/v3 reader (see lc_gguf.h for the layout).
 *
 * The file is mmap'd read-only. A cursor walks the header with a bounds check
 * on every read; metadata is copied into an arena owned by the lc_gguf
 * (NUL-terminated strings, native aligned arrays), tensor infos are validated
 * (dims, type, alignment, extent within the file) and their data pointers
 * point into the mapping. Every failure names the file and the key or tensor
 * and says what was expected and what was found. Assumes a little-endian host.
 */
#include "lc_gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NESTING 8     /* arrays of arrays of ... */
#define GGUF_MAX_STRING (1u << 30)

/* ---------------- ggml type table ---------------- */

typedef struct {
    uint32_t id;
    const char *name;
    int block_elems;
    int block_bytes;
} ggml_type_info;

static const ggml_type_info k_ggml_types[] = {
    {0, "F32", 1, 4},           {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},        {6, "Q5_0", 32, 22},       {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},        {9, "Q8_1", 32, 40},       {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},     {12, "Q4_K", 256, 144},    {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},     {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},    {18, "IQ3_XXS", 256, 98},  {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},     {21, "IQ3_S", 256, 110},   {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136},   {24, "I8", 1, 1},          {25, "I16", 1, 2},
    {26, "I32", 1, 4},          {27, "I64", 1, 8},         {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},     {30, "BF16", 1, 2},        {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},     {39, "MXFP4", 32, 17},
};

static const ggml_type_info *ggml_info(uint32_t id) {
    for (size_t i = 0; i < sizeof k_ggml_types / sizeof k_ggml_types[0]; i++)
        if (k_ggml_types[i].id == id) return &k_ggml_types[i];
    return NULL;
}

const char *lc_ggml_type_name(uint32_t id) {
    const ggml_type_info *t = ggml_info(id);
    return t ? t->name : NULL;
}

static const uint32_t k_dtype_ggml[LC_DT_COUNT] = {
    [LC_DT_F32] = 0, [LC_DT_F16] = 1, [LC_DT_BF16] = 30, [LC_DT_Q8_0] = 8, [LC_DT_Q4_0] = 2,
    [LC_DT_Q4_1] = 3, [LC_DT_Q4_K] = 12, [LC_DT_Q5_K] = 13, [LC_DT_Q6_K] = 14, [LC_DT_Q5_0] = 6,
    [LC_DT_Q5_1] = 7, [LC_DT_Q2_K] = 10, [LC_DT_Q3_K] = 11,
};

lc_dtype lc_dtype_from_ggml(uint32_t id) {
    for (int t = 0; t < LC_DT_COUNT; t++)
        if (k_dtype_ggml[t] == id) return (lc_dtype)t;
    return LC_DT_COUNT;
}

uint32_t lc_dtype_to_ggml(lc_dtype t) {
    LC_ASSERT((unsigned)t < LC_DT_COUNT);
    return k_dtype_ggml[t];
}

static const char *k_type_names[LC_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

const char *lc_gguf_type_name(lc_gguf_type t) {
    return (unsigned)t < LC_GGUF_TYPE_COUNT ? k_type_names[t] : "unknown";
}

size_t lc_gguf_type_size(lc_gguf_type t) {
    switch (t) {
    case LC_GGUF_UINT8: case LC_GGUF_INT8: case LC_GGUF_BOOL: return 1;
    case LC_GGUF_UINT16: case LC_GGUF_INT16: return 2;
    case LC_GGUF_UINT32: case LC_GGUF_INT32: case LC_GGUF_FLOAT32: return 4;
    case LC_GGUF_UINT64: case LC_GGUF_INT64: case LC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* ---------------- the object ---------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
} arena_chunk;

struct lc_gguf {
    char path[1024];
    uint8_t *map;
    size_t size;
    int map_released;
    uint32_t version, alignment;
    uint64_t data_off;
    int64_t n_kv, n_tensors;
    lc_gguf_kv *kvs;          /* (n_kv) */
    lc_gguf_tensor *tensors;  /* (n_tensors) */
    arena_chunk *arena;
};

static void *arena_alloc(lc_gguf *g, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_chunk *c = g->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = g->arena;
        g->arena = c;
    }
    void *p = c->mem + c->used;
    c->used += n;
    return p;
}

/* ---------------- bounds-checked cursor ---------------- */

typedef struct {
    lc_gguf *g;
    size_t pos;
} cursor;

static lc_status need(cursor *c, uint64_t n, const char *what) {
    if (n > c->g->size - c->pos)
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: truncated file: reading %s needs %llu bytes at offset %zu, but the file "
                         "is %zu bytes long",
                         c->g->path, what, (unsigned long long)n, c->pos, c->g->size);
    return LC_OK;
}

static lc_status rd(cursor *c, void *dst, size_t n, const char *what) {
    lc_status s = need(c, n, what);
    if (s) return s;
    memcpy(dst, c->g->map + c->pos, n);
    c->pos += n;
    return LC_OK;
}

static lc_status rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static lc_status rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

/* A GGUF string, copied NUL-terminated into the arena. */
static lc_status rd_str(cursor *c, lc_gguf_str *out, const char *what) {
    uint64_t len;
    lc_status s = rd_u64(c, &len, what);
    if (s) return s;
    if (len > GGUF_MAX_STRING)
        return lc_errorf(LC_ERR_FORMAT, "%s: %s: string length %llu at offset %zu is implausible (max %u)",
                         c->g->path, what, (unsigned long long)len, c->pos - 8, GGUF_MAX_STRING);
    if ((s = need(c, len, what))) return s;
    char *p = arena_alloc(c->g, (size_t)len + 1);
    if (!p) return lc_errorf(LC_ERR_NOMEM, "%s: out of memory reading %s", c->g->path, what);
    memcpy(p, c->g->map + c->pos, (size_t)len);
    p[len] = 0;
    c->pos += (size_t)len;
    out->ptr = p;
    out->len = len;
    return LC_OK;
}

/* ---------------- metadata values ---------------- */

static lc_status rd_value(cursor *c, lc_gguf_type type, lc_gguf_value *v, int depth, const char *key);

static lc_status rd_array(cursor *c, lc_gguf_value *v, int depth, const char *key) {
    uint32_t et;
    uint64_t n;
    lc_status s;
    if ((s = rd_u32(c, &et, key)) || (s = rd_u64(c, &n, key))) return s;
    if (et >= LC_GGUF_TYPE_COUNT)
        return lc_errorf(LC_ERR_FORMAT, "%s: key '%s': array element type id %u is not a GGUF type (expected 0..%d)",
                         c->g->path, key, et, LC_GGUF_TYPE_COUNT - 1);
    if (depth >= GGUF_MAX_NESTING)
        return lc_errorf(LC_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d levels",
                         c->g->path, key, GGUF_MAX_NESTING);
    /* every element needs at least this many bytes of file: reject absurd counts before allocating */
    size_t min_file = et == LC_GGUF_STRING ? 8 : et == LC_GGUF_ARRAY ? 12 : lc_gguf_type_size((lc_gguf_type)et);
    if (n > (c->g->size - c->pos) / min_file)
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: key '%s': array of %llu %s elements cannot fit in the %zu bytes left in "
                         "the file (truncated or corrupt)",
                         c->g->path, key, (unsigned long long)n, lc_gguf_type_name((lc_gguf_type)et),
                         c->g->size - c->pos);
    v->type = LC_GGUF_ARRAY;
    v->arr.type = (lc_gguf_type)et;
    v->arr.n = n;
    size_t mem = et == LC_GGUF_STRING ? sizeof(lc_gguf_str)
                 : et == LC_GGUF_ARRAY ? sizeof(lc_gguf_value) : lc_gguf_type_size((lc_gguf_type)et);
    void *data = arena_alloc(c->g, (size_t)n * mem + 1);
    if (!data) return lc_errorf(LC_ERR_NOMEM, "%s: key '%s': out of memory for %llu elements",
                                c->g->path, key, (unsigned long long)n);
    v->arr.data = data;
    if (et == LC_GGUF_STRING) {
        lc_gguf_str *strs = data;
        for (uint64_t i = 0; i < n; i++)
            if ((s = rd_str(c, &strs[i], key))) return s;
    } else if (et == LC_GGUF_ARRAY) {
        lc_gguf_value *vals = data;
        for (uint64_t i = 0; i < n; i++)
            if ((s = rd_value(c, LC_GGUF_ARRAY, &vals[i], depth + 1, key))) return s;
    } else {
        if ((s = rd(c, data, (size_t)n * mem, key))) return s; /* little-endian host */
        if (et == LC_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (((uint8_t *)data)[i] > 1)
                    return lc_errorf(LC_ERR_FORMAT, "%s: key '%s': bool array element %llu is %u (expected 0 or 1)",
                                     c->g->path, key, (unsigned long long)i, ((uint8_t *)data)[i]);
    }
    return LC_OK;
}

static lc_status rd_value(cursor *c, lc_gguf_type type, lc_gguf_value *v, int depth, const char *key) {
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        uint64_t u64; int64_t i64; float f32; double f64;
    } x;
    lc_status s;
    memset(v, 0, sizeof *v);
    v->type = type;
    if (type == LC_GGUF_STRING) return rd_str(c, &v->str, key);
    if (type == LC_GGUF_ARRAY) return rd_array(c, v, depth, key);
    if ((s = rd(c, &x, lc_gguf_type_size(type), key))) return s;
    switch (type) {
    case LC_GGUF_UINT8: v->u64 = x.u8; break;
    case LC_GGUF_INT8: v->i64 = x.i8; break;
    case LC_GGUF_UINT16: v->u64 = x.u16; break;
    case LC_GGUF_INT16: v->i64 = x.i16; break;
    case LC_GGUF_UINT32: v->u64 = x.u32; break;
    case LC_GGUF_INT32: v->i64 = x.i32; break;
    case LC_GGUF_UINT64: v->u64 = x.u64; break;
    case LC_GGUF_INT64: v->i64 = x.i64; break;
    case LC_GGUF_FLOAT32: v->f64 = x.f32; break;
    case LC_GGUF_FLOAT64: v->f64 = x.f64; break;
    case LC_GGUF_BOOL:
        if (x.u8 > 1)
            return lc_errorf(LC_ERR_FORMAT, "%s: key '%s': bool value is %u (expected 0 or 1)", c->g->path, key, x.u8);
        v->u64 = x.u8;
        break;
    default: LC_ASSERT(0);
    }
    return LC_OK;
}

/* ---------------- header, kvs, tensor infos ---------------- */

static lc_status parse_header(cursor *c) {
    lc_gguf *g = c->g;
    uint32_t magic, version;
    lc_status s;
    if (g->size < 4 || memcmp(g->map, "GGUF", 4) != 0) {
        unsigned char m[4] = {0};
        memcpy(m, g->map, g->size < 4 ? g->size : 4);
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: not a GGUF file: expected magic \"GGUF\" (47 47 55 46), found %02x %02x %02x %02x",
                         g->path, m[0], m[1], m[2], m[3]);
    }
    if ((s = rd_u32(c, &magic, "magic")) || (s = rd_u32(c, &version, "version"))) return s;
    if (version == 1)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: GGUF version 1 (2023 pre-release) is not supported: expected version 2 or 3",
                         g->path);
    if (version == 0x02000000u || version == 0x03000000u)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: big-endian GGUF (version %u byte-swapped) is not supported",
                         g->path, version >> 24);
    if (version != 2 && version != 3)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: unsupported GGUF version %u: expected 2 or 3", g->path, version);
    g->version = version;
    uint64_t nt, nkv;
    if ((s = rd_u64(c, &nt, "tensor count")) || (s = rd_u64(c, &nkv, "metadata count"))) return s;
    size_t left = g->size - c->pos;
    if (nkv > left / 12 || nt > left / 24)
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: header claims %llu metadata keys and %llu tensors, which cannot fit in the "
                         "remaining %zu bytes (truncated or corrupt)",
                         g->path, (unsigned long long)nkv, (unsigned long long)nt, left);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    return LC_OK;
}

static lc_status parse_kvs(cursor *c) {
    lc_gguf *g = c->g;
    lc_status s;
    g->kvs = arena_alloc(g, (size_t)g->n_kv * sizeof *g->kvs + 1);
    if (!g->kvs) return lc_errorf(LC_ERR_NOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; i < g->n_kv; i++) {
        char what[64];
        snprintf(what, sizeof what, "the key of metadata entry %lld", (long long)i);
        lc_gguf_str key;
        uint32_t type;
        if ((s = rd_str(c, &key, what))) return s;
        if (strlen(key.ptr) != key.len)
            return lc_errorf(LC_ERR_FORMAT, "%s: metadata key #%lld contains a NUL byte", g->path, (long long)i);
        for (int64_t j = 0; j < i; j++)
            if (strcmp(g->kvs[j].key, key.ptr) == 0)
                return lc_errorf(LC_ERR_FORMAT, "%s: duplicate metadata key '%s'", g->path, key.ptr);
        if ((s = rd_u32(c, &type, key.ptr))) return s;
        if (type >= LC_GGUF_TYPE_COUNT)
            return lc_errorf(LC_ERR_FORMAT, "%s: key '%s': value type id %u is not a GGUF type (expected 0..%d)",
                             g->path, key.ptr, type, LC_GGUF_TYPE_COUNT - 1);
        g->kvs[i].key = key.ptr;
        if ((s = rd_value(c, (lc_gguf_type)type, &g->kvs[i].val, 0, key.ptr))) return s;
    }
    const lc_gguf_value *al = lc_gguf_find(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (al) {
        if (al->type != LC_GGUF_UINT32)
            return lc_errorf(LC_ERR_FORMAT, "%s: key 'general.alignment' has type %s, expected uint32",
                             g->path, lc_gguf_type_name(al->type));
        if (al->u64 == 0 || (al->u64 & (al->u64 - 1)) != 0)
            return lc_errorf(LC_ERR_FORMAT, "%s: key 'general.alignment' is %llu, expected a power of two",
                             g->path, (unsigned long long)al->u64);
        g->alignment = (uint32_t)al->u64;
    }
    return LC_OK;
}

static lc_status parse_tensor_info(cursor *c, int64_t i, lc_gguf_tensor *t) {
    lc_gguf *g = c->g;
    lc_status s;
    char what[64];
    snprintf(what, sizeof what, "the name of tensor #%lld", (long long)i);
    lc_gguf_str name;
    uint32_t nd, type;
    if ((s = rd_str(c, &name, what))) return s;
    t->name = name.ptr;
    if ((s = rd_u32(c, &nd, t->name))) return s;
    if (nd < 1 || nd > LC_GGUF_MAX_DIMS)
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': %u dimensions, expected 1..%d", g->path, t->name, nd,
                         LC_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    int64_t nel = 1;
    for (int d = 0; d < LC_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < (int)nd && (s = rd_u64(c, &ne, t->name))) return s;
        if (ne > (uint64_t)INT64_MAX || (ne && (uint64_t)nel > (uint64_t)INT64_MAX / ne))
            return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': dimension %d (%llu) overflows the element count",
                             g->path, t->name, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        nel *= (int64_t)ne;
    }
    if ((s = rd_u32(c, &type, t->name)) || (s = rd_u64(c, &t->offset, t->name))) return s;
    const ggml_type_info *ti = ggml_info(type);
    if (!ti)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "%s: tensor '%s': unknown ggml type id %u (known ids: 0-3, 6-30, 34, 35, 39); "
                         "the file may be newer than lorac",
                         g->path, t->name, type);
    t->ggml_type = type;
    t->type = lc_dtype_from_ggml(type);
    if (t->ne[0] % ti->block_elems != 0)
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': %s rows of %lld elements are not a multiple of the "
                         "block size %d", g->path, t->name, ti->name, (long long)t->ne[0], ti->block_elems);
    uint64_t blocks = (uint64_t)nel / (uint64_t)ti->block_elems;
    if (blocks > UINT64_MAX / (uint64_t)ti->block_bytes)
        return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': byte size overflows", g->path, t->name);
    t->nbytes = blocks * (uint64_t)ti->block_bytes;
    for (int64_t j = 0; j < i; j++)
        if (strcmp(g->tensors[j].name, t->name) == 0)
            return lc_errorf(LC_ERR_FORMAT, "%s: duplicate tensor name '%s'", g->path, t->name);
    return LC_OK;
}

static lc_status parse_tensors(cursor *c) {
    lc_gguf *g = c->g;
    lc_status s;
    g->tensors = arena_alloc(g, (size_t)g->n_tensors * sizeof *g->tensors + 1);
    if (!g->tensors) return lc_errorf(LC_ERR_NOMEM, "%s: out of memory", g->path);
    memset(g->tensors, 0, (size_t)g->n_tensors * sizeof *g->tensors);
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((s = parse_tensor_info(c, i, &g->tensors[i]))) return s;
    uint64_t a = g->alignment;
    g->data_off = ((uint64_t)c->pos + a - 1) / a * a;
    if (g->n_tensors > 0 && g->data_off > g->size)
        return lc_errorf(LC_ERR_FORMAT,
                         "%s: truncated file: tensor data should start at offset %llu but the file is %zu bytes",
                         g->path, (unsigned long long)g->data_off, g->size);
    uint64_t data_size = g->data_off <= g->size ? g->size - g->data_off : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        lc_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a != 0)
            return lc_errorf(LC_ERR_FORMAT, "%s: tensor '%s': data offset %llu is not a multiple of the alignment %llu",
                             g->path, t->name, (unsigned long long)t->offset, (unsigned long long)a);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return lc_errorf(LC_ERR_FORMAT,
                             "%s: tensor '%s': data [%llu, %llu) lies past the end of the file: the data "
                             "section holds %llu bytes (truncated file or bad offset)",
                             g->path, t->name, (unsigned long long)t->offset,
                             (unsigned long long)(t->offset + t->nbytes), (unsigned long long)data_size);
        t->data = g->map + g->data_off + t->offset;
    }
    return LC_OK;
}

lc_status lc_gguf_open(lc_gguf **out, const char *path) {
    lc_status s = LC_OK;
    int fd = -1;
    *out = NULL;
    lc_gguf *g = calloc(1, sizeof *g);
    if (!g) return lc_errorf(LC_ERR_NOMEM, "%s: out of memory", path);
    snprintf(g->path, sizeof g->path, "%s", path);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        s = lc_errorf(LC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        s = lc_errorf(LC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    g->size = (size_t)st.st_size;
    if (g->size < 24) {
        if (g->size >= 4) {
            char m[4];
            if (pread(fd, m, 4, 0) == 4 && memcmp(m, "GGUF", 4) != 0) {
                s = lc_errorf(LC_ERR_FORMAT, "%s: not a GGUF file: expected magic \"GGUF\", found %02x %02x %02x %02x",
                              path, (unsigned char)m[0], (unsigned char)m[1], (unsigned char)m[2], (unsigned char)m[3]);
                goto fail;
            }
        }
        s = lc_errorf(LC_ERR_FORMAT, "%s: truncated file: %zu bytes, a GGUF header needs at least 24", path, g->size);
        goto fail;
    }
    g->map = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        s = lc_errorf(LC_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, g->size, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    cursor c = {g, 0};
    if ((s = parse_header(&c)) || (s = parse_kvs(&c)) || (s = parse_tensors(&c))) goto fail;
    *out = g;
    return LC_OK;
fail:
    if (fd >= 0) close(fd);
    lc_gguf_close(g);
    return s;
}

void lc_gguf_close(lc_gguf *g) {
    if (!g) return;
    if (g->map && !g->map_released) munmap(g->map, g->size);
    while (g->arena) {
        arena_chunk *n = g->arena->next;
        free(g->arena);
        g->arena = n;
    }
    free(g);
}

lc_status lc_gguf_release_map(lc_gguf *g, void **base, size_t *size) {
    if (g->map_released || !g->map)
        return lc_errorf(LC_ERR_ARG, "%s: the file mapping was already handed over", g->path);
    *base = g->map;
    *size = g->size;
    g->map_released = 1;
    return LC_OK;
}

/* ---------------- accessors ---------------- */

const char *lc_gguf_path(const lc_gguf *g) { return g->path; }
uint32_t lc_gguf_version(const lc_gguf *g) { return g->version; }
uint32_t lc_gguf_alignment(const lc_gguf *g) { return g->alignment; }
uint64_t lc_gguf_data_offset(const lc_gguf *g) { return g->data_off; }
int64_t lc_gguf_n_kv(const lc_gguf *g) { return g->n_kv; }
int64_t lc_gguf_n_tensors(const lc_gguf *g) { return g->n_tensors; }

const lc_gguf_kv *lc_gguf_kv_at(const lc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? &g->kvs[i] : NULL;
}

const lc_gguf_tensor *lc_gguf_tensor_at(const lc_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const lc_gguf_value *lc_gguf_find(const lc_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kvs[i].key && strcmp(g->kvs[i].key, key) == 0) return &g->kvs[i].val;
    return NULL;
}

const lc_gguf_tensor *lc_gguf_find_tensor(const lc_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static lc_status find_typed(const lc_gguf *g, const char *key, const lc_gguf_value **v) {
    *v = lc_gguf_find(g, key);
    if (!*v) return lc_errorf(LC_ERR_FORMAT, "%s: metadata key '%s' not found", g->path, key);
    return LC_OK;
}

static lc_status wrong_type(const lc_gguf *g, const char *key, lc_gguf_type found, const char *expected) {
    return lc_errorf(LC_ERR_FORMAT, "%s: metadata key '%s' has type %s, expected %s", g->path, key,
                     lc_gguf_type_name(found), expected);
}

lc_status lc_gguf_get_int(const lc_gguf *g, const char *key, int64_t *out) {
    const lc_gguf_value *v;
    lc_status s = find_typed(g, key, &v);
    if (s) return s;
    switch (v->type) {
    case LC_GGUF_UINT8: case LC_GGUF_UINT16: case LC_GGUF_UINT32: case LC_GGUF_UINT64: case LC_GGUF_BOOL:
        if (v->u64 > (uint64_t)INT64_MAX)
            return lc_errorf(LC_ERR_FORMAT, "%s: metadata key '%s' = %llu does not fit int64", g->path, key,
                             (unsigned long long)v->u64);
        *out = (int64_t)v->u64;
        return LC_OK;
    case LC_GGUF_INT8: case LC_GGUF_INT16: case LC_GGUF_INT32: case LC_GGUF_INT64:
        *out = v->i64;
        return LC_OK;
    default: return wrong_type(g, key, v->type, "an integer");
    }
}

lc_status lc_gguf_get_float(const lc_gguf *g, const char *key, double *out) {
    const lc_gguf_value *v;
    lc_status s = find_typed(g, key, &v);
    if (s) return s;
    if (v->type == LC_GGUF_FLOAT32 || v->type == LC_GGUF_FLOAT64) {
        *out = v->f64;
        return LC_OK;
    }
    int64_t i;
    if (v->type == LC_GGUF_STRING || v->type == LC_GGUF_ARRAY || v->type == LC_GGUF_BOOL)
        return wrong_type(g, key, v->type, "a number");
    if ((s = lc_gguf_get_int(g, key, &i))) return s;
    *out = (double)i;
    return LC_OK;
}

lc_status lc_gguf_get_bool(const lc_gguf *g, const char *key, int *out) {
    const lc_gguf_value *v;
    lc_status s = find_typed(g, key, &v);
    if (s) return s;
    if (v->type != LC_GGUF_BOOL) return wrong_type(g, key, v->type, "bool");
    *out = (int)v->u64;
    return LC_OK;
}

lc_status lc_gguf_get_str(const lc_gguf *g, const char *key, const char **out) {
    const lc_gguf_value *v;
    lc_status s = find_typed(g, key, &v);
    if (s) return s;
    if (v->type != LC_GGUF_STRING) return wrong_type(g, key, v->type, "string");
    *out = v->str.ptr;
    return LC_OK;
}

lc_status lc_gguf_get_arr(const lc_gguf *g, const char *key, lc_gguf_type elem_type, const void **data,
                          uint64_t *n) {
    const lc_gguf_value *v;
    lc_status s = find_typed(g, key, &v);
    if (s) return s;
    if (v->type != LC_GGUF_ARRAY) return wrong_type(g, key, v->type, "array");
    if (v->arr.type != elem_type)
        return lc_errorf(LC_ERR_FORMAT, "%s: metadata key '%s' is an array of %s, expected an array of %s",
                         g->path, key, lc_gguf_type_name(v->arr.type), lc_gguf_type_name(elem_type));
    *data = v->arr.data;
    *n = v->arr.n;
    return LC_OK;
}
