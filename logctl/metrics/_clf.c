/* The native engine's scanner for the CLF family (logctl.metrics._clf).
 *
 * One pass over a chunk of lines: each line of the strict combined shape is parsed and
 * counted into its group, keyed by (minute, host, method, path with query dropped and
 * all-digit segments folded to :id, status). The shape: [vhost] client ident user
 * [dd/Mon/yyyy:HH:MM:SS +zzzz] "METHOD path HTTP/x" status size, optionally "referer"
 * "agent", then any fields (bare or quoted), the first numeric one being the response
 * time; the client may be an X-Forwarded-For list ("a, b, c"), and a vhost is the host.
 * Every other non-blank line is handed back, in order, for the Python line parser: a
 * quoted X-Forwarded-For, a quoted user with spaces, a quoted trailing field with spaces
 * (the line parser splits those on whitespace), tails that may be Traefik's or
 * ingress-nginx's (their time and host are elsewhere), and a line whose size would
 * overflow its group's byte sum. Python turns groups into points (route folding,
 * merging) and parses what is left.
 *
 * Field for field this reads a line as formats.combined.CombinedParser does; the tests
 * compare both engines on real, generated, edge-case and random input. The GIL is
 * released while scanning, so threads can scan chunks in parallel.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_tuple.h"

#define MAX_LINE (64 * 1024) /* formats.lines.MAX_LINE: longer lines are malformed unparsed */
#define MAX_NUMBER 128       /* longer response-time fields go to the line parser */
#define MAX_PREFIX 16        /* tokens before the time: vhost, client list, ident, user */
#define ZERO_BIN INT32_MIN   /* sketch.ZERO_BIN */

#define INLINE_BINS 4

typedef struct {
    int64_t minute, first, last;
    int64_t count, errors, client_errors, bytes, lat_count;
    double lat_sum, lat_max;
    uint64_t hash;
    size_t key;          /* offset of host, method then path in the key arena */
    uint32_t host_len, method_len, path_len;
    int32_t status;
    uint32_t bins;       /* distinct histogram bins, counted when building the output */
    /* A group's first INLINE_BINS bins live in the group itself, on the cache lines its
     * counters were just written to; later ones go to the scan's (group, bin) table. In
     * a sparse log most groups hold a few lines, and looking their bins up in the table
     * missed the cache for a fifth of the scan's time. */
    uint32_t ninline;
    int32_t inline_bin[INLINE_BINS];
    uint32_t inline_count[INLINE_BINS];
} Group;

typedef struct {
    uint32_t group;
    int32_t bin;
    int64_t count;
} BinCount;

typedef struct {
    Py_ssize_t start, length, index, prev_index;
    int64_t prev_minute;
} Leftover;

typedef struct {
    Group *groups;
    size_t ngroups, cap_groups;
    uint32_t *slots;     /* group index + 1; 0 is empty */
    size_t nslots;
    BinCount *bins;      /* open addressing on (group, bin); count 0 is empty */
    size_t nbins, nhashed, bin_slots;  /* bins in all, those in the table, its size */
    char *arena;
    size_t arena_len, arena_cap;
    Leftover *left;
    size_t nleft, cap_left;
    int failed;          /* out of memory */
} Scan;

typedef struct {
    int64_t ts;
    const char *host, *method, *path;
    size_t host_len, method_len, path_len;
    int32_t status;
    int64_t size;
    int has_rt;
    double rt_ms;
} Line;

typedef struct {
    double scale;        /* ms per unit; 0 for 'auto' */
    double ln_gamma;
    int32_t min_bin;
} Settings;

static void *grow(void *ptr, size_t *cap, size_t need, size_t size, int *failed) {
    if (need <= *cap)
        return ptr;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *next = realloc(ptr, cap2 * size);
    if (!next) {
        *failed = 1;
        return ptr;
    }
    *cap = cap2;
    return next;
}

/* ---- the strict line grammar ---- */

/* Byte classes, one table lookup per byte in the token loops. */
enum { SPACE = 1, CLIENT_STOP = 2, PATH_STOP = 4 };
static unsigned char classes[256];

static void init_classes(void) {
    static const char spaces[] = " \t\n\r\f\v";
    for (const char *c = spaces; *c; c++)
        classes[(unsigned char)*c] |= SPACE | CLIENT_STOP;
    classes['"'] |= CLIENT_STOP | PATH_STOP;
    classes['['] |= CLIENT_STOP;
    classes[' '] |= PATH_STOP;
    classes['\\'] |= PATH_STOP;
}

static inline int is_space(unsigned char c) { return classes[c] & SPACE; }

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int digits(const char *p, int n, int *out) {
    int value = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)p[i]))
            return 0;
        value = value * 10 + (p[i] - '0');
    }
    *out = value;
    return 1;
}

static int month_number(const char *p) {
    uint32_t key = 0;
    for (int i = 0; i < 3; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return 0;
        key = key << 8 | (c | 0x20);
    }
#define MONTH(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
    switch (key) {
    case MONTH('j', 'a', 'n'): return 1;
    case MONTH('f', 'e', 'b'): return 2;
    case MONTH('m', 'a', 'r'): return 3;
    case MONTH('a', 'p', 'r'): return 4;
    case MONTH('m', 'a', 'y'): return 5;
    case MONTH('j', 'u', 'n'): return 6;
    case MONTH('j', 'u', 'l'): return 7;
    case MONTH('a', 'u', 'g'): return 8;
    case MONTH('s', 'e', 'p'): return 9;
    case MONTH('o', 'c', 't'): return 10;
    case MONTH('n', 'o', 'v'): return 11;
    case MONTH('d', 'e', 'c'): return 12;
    default: return -1; /* letters, but not a month: the line parser rejects it too */
    }
#undef MONTH
}

/* Days from 1970-01-01 to a civil date (proleptic Gregorian), as calendar.timegm. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* '[dd/Mon/yyyy:HH:MM:SS +zzzz] ' at p (29 bytes + space); 0 when not a valid time. */
static int parse_stamp(const char *p, const char *e, int64_t *ts) {
    int day, year, hour, minute, second, tz_h, tz_m;
    if (e - p < 30 || p[0] != '[' || p[3] != '/' || p[7] != '/' || p[12] != ':' ||
        p[15] != ':' || p[18] != ':' || p[21] != ' ' || (p[22] != '+' && p[22] != '-') ||
        p[27] != ']' || p[28] != ' ')
        return 0;
    int month = month_number(p + 4);
    if (month <= 0 || !digits(p + 1, 2, &day) || !digits(p + 8, 4, &year) ||
        !digits(p + 13, 2, &hour) || !digits(p + 16, 2, &minute) ||
        !digits(p + 19, 2, &second) || !digits(p + 23, 2, &tz_h) || !digits(p + 25, 2, &tz_m))
        return 0;
    if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || year < 1970)
        return 0;
    int64_t offset = (int64_t)(tz_h * 60 + tz_m) * (p[22] == '-' ? -1 : 1);
    int64_t days = days_from_civil(year, month, 1) + day - 1;
    *ts = days * 86400 + hour * 3600 + minute * 60 - offset * 60 + second;
    return 1;
}

/* A quoted field "..." with backslash escapes; returns the position after it or NULL.
 * memchr finds the closing quote; only a field with a backslash is walked byte by byte. */
static const char *quoted(const char *p, const char *e) {
    if (p >= e || *p != '"')
        return NULL;
    p++;
    const char *close = memchr(p, '"', (size_t)(e - p));
    if (close && !memchr(p, '\\', (size_t)(close - p)))
        return close + 1;
    for (; p < e; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\' && ++p >= e)
            return NULL;
    }
    return NULL;
}

/* A decimal 'digits[.digits]' as the nearest double, as float() reads it. With at most 15
 * digits the digits are an exact integer and 10**fraction an exact power (<= 22), so one
 * division rounds correctly (Clinger's fast path); other text goes through strtod. */
static double decimal(const char *text, size_t n, size_t fraction) {
    static const double powers[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                    1e11, 1e12, 1e13, 1e14, 1e15};
    if (n - (fraction ? 1 : 0) > 15)
        return strtod(text, NULL);
    int64_t digits = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] != '.')
            digits = digits * 10 + (text[i] - '0');
    return (double)digits / powers[fraction];
}

static int parse_rt(const char *p, const char *e, const Settings *s, Line *line) {
    const char *start = p;
    while (p < e && is_digit((unsigned char)*p))
        p++;
    if (p == start)
        return 0;
    size_t fraction = 0;
    if (p < e && *p == '.') {
        const char *frac = ++p;
        while (p < e && is_digit((unsigned char)*p))
            p++;
        fraction = (size_t)(p - frac);
        if (!fraction)
            return 0;
    }
    size_t n = (size_t)(p - start);
    if (p != e || n >= MAX_NUMBER)
        return 0;
    char text[MAX_NUMBER];
    memcpy(text, start, n);
    text[n] = '\0';
    double scale = s->scale != 0.0 ? s->scale : (fraction ? 1000.0 : 0.001);
    double ms = decimal(text, n, fraction) * scale;
    line->has_rt = isfinite(ms); /* CombinedParser drops a response time that overflows */
    line->rt_ms = ms;
    return 1;
}

/* A client-list token: no whitespace, quote or bracket, and a comma only at its end
 * (`trailing`: one there, the list goes on) or none at all. */
static int list_token(const char *p, size_t n, int trailing) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((classes[c] & CLIENT_STOP) || (c == ',' && !(trailing && i == n - 1)))
            return 0;
    }
    return !trailing || (n > 1 && p[n - 1] == ',');
}

/* The fields before the time: [vhost] client-list ident user, each followed by one space,
 * the last by '['. Sets the host (the vhost, or none) and returns where the time starts;
 * NULL for any other prefix (CombinedParser's regex reads these the same way: a first
 * token without a comma, followed by a list, can only be its vhost). */
static const char *parse_prefix(const char *p, const char *e, Line *line) {
    const char *start[MAX_PREFIX];
    size_t len[MAX_PREFIX];
    int n = 0;
    const char *q = p;
    for (;;) {
        const char *token = q;
        while (q < e && !is_space((unsigned char)*q))
            q++;
        if (q == token || q >= e || *q != ' ' || n == MAX_PREFIX)
            return NULL;
        start[n] = token;
        len[n++] = (size_t)(q - token);
        if (++q < e && *q == '[')
            break;
    }
    int first = 0, clients = n - 2;
    if (clients < 1)
        return NULL;
    line->host = p;
    line->host_len = 0;
    if (clients >= 2 && start[0][len[0] - 1] != ',') {
        if (!list_token(start[0], len[0], 0))
            return NULL;
        line->host_len = len[0];
        first = 1;
    }
    for (int i = first; i < clients; i++)
        if (!list_token(start[i], len[i], i < clients - 1))
            return NULL;
    return q;
}

static int is_blank(const char *p, const char *e) {
    for (; p < e; p++)
        if (!is_space((unsigned char)*p))
            return 0;
    return 1;
}

static int is_number(const char *p, const char *e) {
    const char *q = p;
    while (q < e && is_digit((unsigned char)*q))
        q++;
    if (q == p)
        return 0;
    if (q < e && *q == '.') {
        const char *frac = ++q;
        while (q < e && is_digit((unsigned char)*q))
            q++;
        if (q == frac)
            return 0;
    }
    return q == e;
}

static int all_digits(const char *p, const char *e) {
    if (p == e)
        return 0;
    for (; p < e; p++)
        if (!is_digit((unsigned char)*p))
            return 0;
    return 1;
}

/* The fields after the user agent (or the size), from the space before the first: bare
 * tokens or quoted strings, then only whitespace. The first numeric field is the
 * response time (CombinedParser.response_time). 0 for what the line parser reads
 * otherwise: a quoted field holding whitespace (it splits those), or a tail that may be
 * Traefik's or ingress-nginx's (a count, then a quoted router, or a time and
 * [upstream]). */
static int parse_tail(const char *q, const char *e, const Settings *s, Line *line) {
    const char *field[3];
    const char *field_end[3];
    int fields = 0, timed = 0;
    while (q < e) {
        if (*q != ' ')
            break;
        while (q < e && *q == ' ')
            q++;
        if (q == e)
            break;
        const char *start = q;
        if (*q == '"') {
            q = quoted(q, e);
            if (!q)
                return 0;
            for (const char *c = start; c < q; c++)
                if (is_space((unsigned char)*c))
                    return 0;
        } else {
            while (q < e && !is_space((unsigned char)*q) && *q != '"')
                q++;
            if (!timed && is_number(start, q)) {
                if (!parse_rt(start, q, s, line))
                    return 0;
                timed = 1;
            }
        }
        if (fields < 3) {
            field[fields] = start;
            field_end[fields++] = q;
        }
        if (q < e && !is_space((unsigned char)*q))
            return 0;
    }
    if (!is_blank(q, e))
        return 0;
    if (fields >= 2 && all_digits(field[0], field_end[0]) &&
        (*field[1] == '"' || (fields >= 3 && is_number(field[1], field_end[1]) &&
                              *field[2] == '[')))
        return 0;
    return 1;
}

/* The strict shape, from the line's start p to its end e (no LF, one CR dropped). */
static int parse_line(const char *p, const char *e, const Settings *s, Line *line) {
    const char *q = parse_prefix(p, e, line);
    if (!q || !parse_stamp(q, e, &line->ts))
        return 0;
    q += 29;
    if (q >= e || *q++ != '"')
        return 0;
    line->method = q;
    while (q < e && *q >= 'A' && *q <= 'Z')
        q++;
    line->method_len = (size_t)(q - line->method);
    if (!line->method_len || q >= e || *q++ != ' ')
        return 0;
    line->path = q;
    while (q < e && !(classes[(unsigned char)*q] & PATH_STOP))
        q++;
    line->path_len = (size_t)(q - line->path);
    if (!line->path_len || e - q < 7 || memcmp(q, " HTTP/", 6) != 0)
        return 0;
    q += 6;
    const char *version = q;
    while (q < e && (is_digit((unsigned char)*q) || *q == '.'))
        q++;
    if (q == version || e - q < 6 || q[0] != '"' || q[1] != ' ')
        return 0;
    q += 2;
    int status;
    if (!digits(q, 3, &status) || q[3] != ' ')
        return 0;
    line->status = status;
    q += 4;
    if (q < e && *q == '-') {
        line->size = 0;
        q++;
    } else {
        const char *start = q;
        int64_t size = 0;
        while (q < e && is_digit((unsigned char)*q)) {
            if (q - start >= 15)
                return 0; /* access.MAX_SIZE_DIGITS: the line parser calls it malformed */
            size = size * 10 + (*q++ - '0');
        }
        if (q == start)
            return 0;
        line->size = size;
    }
    line->has_rt = 0;
    line->rt_ms = 0.0;
    if (e - q >= 2 && q[0] == ' ' && q[1] == '"') {
        q = quoted(q + 1, e);
        if (!q || e - q < 2 || q[0] != ' ' || q[1] != '"')
            return 0; /* one quoted field: the line parser's */
        q = quoted(q + 1, e);
        if (!q)
            return 0;
    }
    return parse_tail(q, e, s, line);
}

/* ---- grouping ---- */

static inline uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdULL;
}

static uint64_t hash_key(const char *key, size_t len, int64_t minute, int32_t status) {
    uint64_t h = mix(mix(0xcbf29ce484222325ULL, (uint64_t)minute), (uint64_t)status);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, key + i, 8);
        h = mix(h, word);
    }
    for (; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
    return mix(h, len);
}

/* The path without query and fragment, all-digit segments folded to ':id' when it starts
 * with '/': what columnar._prefolded makes of it (route.fold_route finishes the job).
 * One pass: a segment is copied as it is read and replaced when it ends all digits. */
static size_t prefold(const char *path, size_t n, char *out) {
    int slashed = n > 0 && path[0] == '/';
    size_t o = 0, segment = 0;
    int digits_only = 0;
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        if (c == '?' || c == '#')
            break;
        if (slashed && c == '/') {
            if (digits_only && o > segment) {
                memcpy(out + segment, ":id", 3);
                o = segment + 3;
            }
            out[o++] = '/';
            segment = o;
            digits_only = 1;
            continue;
        }
        digits_only = digits_only && is_digit((unsigned char)c);
        out[o++] = c;
    }
    if (slashed && digits_only && o > segment) {
        memcpy(out + segment, ":id", 3);
        o = segment + 3;
    }
    return o;
}

static int rehash_groups(Scan *scan) {
    size_t nslots = scan->nslots ? scan->nslots * 2 : 1024;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return 0;
    for (size_t g = 0; g < scan->ngroups; g++) {
        size_t at = scan->groups[g].hash & (nslots - 1);
        while (slots[at])
            at = (at + 1) & (nslots - 1);
        slots[at] = (uint32_t)g + 1;
    }
    free(scan->slots);
    scan->slots = slots;
    scan->nslots = nslots;
    return 1;
}

/* The group of (minute, status, key), created when new; `key` is the host, the method
 * then the folded path, `host_len` and `method_len` long at its start. */
static Group *find_group(Scan *scan, const char *key, size_t key_len, size_t host_len,
                         size_t method_len, int32_t status, int64_t minute) {
    if ((scan->ngroups + 1) * 2 > scan->nslots && !rehash_groups(scan))
        return NULL;
    uint64_t hash = hash_key(key, key_len, minute, status);
    size_t at = hash & (scan->nslots - 1);
    for (; scan->slots[at]; at = (at + 1) & (scan->nslots - 1)) {
        Group *g = &scan->groups[scan->slots[at] - 1];
        if (g->hash == hash && g->minute == minute && g->status == status &&
            g->host_len + g->method_len + g->path_len == key_len &&
            g->host_len == host_len && g->method_len == method_len &&
            memcmp(scan->arena + g->key, key, key_len) == 0)
            return g;
    }
    scan->groups = grow(scan->groups, &scan->cap_groups, scan->ngroups + 1, sizeof(Group),
                        &scan->failed);
    scan->arena = grow(scan->arena, &scan->arena_cap, scan->arena_len + key_len, 1,
                       &scan->failed);
    if (scan->failed)
        return NULL;
    Group *g = &scan->groups[scan->ngroups];
    memset(g, 0, sizeof *g);
    g->minute = minute;
    g->hash = hash;
    g->status = status;
    g->host_len = (uint32_t)host_len;
    g->method_len = (uint32_t)method_len;
    g->path_len = (uint32_t)(key_len - host_len - method_len);
    g->key = scan->arena_len;
    memcpy(scan->arena + scan->arena_len, key, key_len);
    scan->arena_len += key_len;
    scan->slots[at] = (uint32_t)++scan->ngroups;
    return g;
}

static int add_bin(Scan *scan, uint32_t group, int32_t bin) {
    Group *g = &scan->groups[group];
    for (uint32_t i = 0; i < g->ninline; i++) {
        if (g->inline_bin[i] == bin) {
            g->inline_count[i]++;
            return 1;
        }
    }
    if (g->ninline < INLINE_BINS) {
        g->inline_bin[g->ninline] = bin;
        g->inline_count[g->ninline++] = 1;
        scan->nbins++;
        return 1;
    }
    if ((scan->nhashed + 1) * 2 > scan->bin_slots) {
        size_t nslots = scan->bin_slots ? scan->bin_slots * 2 : 4096;
        BinCount *next = calloc(nslots, sizeof *next);
        if (!next)
            return 0;
        for (size_t i = 0; i < scan->bin_slots; i++) {
            BinCount *b = &scan->bins[i];
            if (!b->count)
                continue;
            size_t at = (mix(b->group, (uint32_t)b->bin)) & (nslots - 1);
            while (next[at].count)
                at = (at + 1) & (nslots - 1);
            next[at] = *b;
        }
        free(scan->bins);
        scan->bins = next;
        scan->bin_slots = nslots;
    }
    size_t at = (mix(group, (uint32_t)bin)) & (scan->bin_slots - 1);
    for (; scan->bins[at].count; at = (at + 1) & (scan->bin_slots - 1)) {
        if (scan->bins[at].group == group && scan->bins[at].bin == bin) {
            scan->bins[at].count++;
            return 1;
        }
    }
    scan->bins[at] = (BinCount){group, bin, 1};
    scan->nbins++;
    scan->nhashed++;
    return 1;
}

static int32_t bin_index(double ms, const Settings *s) {
    if (ms <= 0)
        return ZERO_BIN;
    if (ms <= 0.001)
        return s->min_bin;
    return (int32_t)ceil(log(ms) / s->ln_gamma);
}

static inline int64_t floor_minute(int64_t ts) {
    int64_t q = ts / 60;
    if (ts % 60 < 0)
        q--;
    return q * 60;
}

/* Count a parsed line into its group; 0 when it must go to the line parser instead. */
static int count_line(Scan *scan, const Line *line, char *scratch, const Settings *s,
                      int64_t minute) {
    memcpy(scratch, line->host, line->host_len);
    memcpy(scratch + line->host_len, line->method, line->method_len);
    size_t head = line->host_len + line->method_len;
    size_t key_len = head + prefold(line->path, line->path_len, scratch + head);
    Group *g = find_group(scan, scratch, key_len, line->host_len, line->method_len,
                          line->status, minute);
    if (!g)
        return 0;
    int64_t bytes;
    if (__builtin_add_overflow(g->bytes, line->size, &bytes))
        return 0;
    g->bytes = bytes;
    if (g->count == 0 || line->ts < g->first)
        g->first = line->ts;
    if (g->count == 0 || line->ts > g->last)
        g->last = line->ts;
    g->count++;
    if (line->status >= 500)
        g->errors++;
    else if (line->status >= 400)
        g->client_errors++;
    if (line->has_rt) {
        g->lat_count++;
        g->lat_sum += line->rt_ms;
        if (line->rt_ms > g->lat_max)
            g->lat_max = line->rt_ms;
        if (!add_bin(scan, (uint32_t)(g - scan->groups), bin_index(line->rt_ms, s)))
            scan->failed = 1;
    }
    return 1;
}

/* Scan every line; runs without the GIL. Returns the number of lines counted. */
static Py_ssize_t scan_chunk(Scan *scan, const char *data, Py_ssize_t size, const Settings *s,
                             Py_ssize_t *first_index, int64_t *first_minute) {
    char *scratch = malloc(4 * MAX_LINE); /* host, method, folded path (a digit: ':id') */
    if (!scratch) {
        scan->failed = 1;
        return 0;
    }
    Py_ssize_t counted = 0, index = 0, last_index = -1;
    int64_t last_minute = 0;
    const char *p = data, *end = data + size;
    for (; p < end && !scan->failed; index++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (e > p && e[-1] == '\r')
            e--;
        Line line;
        if (e - p <= MAX_LINE && parse_line(p, e, s, &line)) {
            int64_t minute = floor_minute(line.ts);
            if (count_line(scan, &line, scratch, s, minute)) {
                if (last_index < 0) {
                    *first_index = index;
                    *first_minute = minute;
                }
                last_index = index;
                last_minute = minute;
                counted++;
                p = next;
                continue;
            }
        }
        if (!is_blank(p, e)) {
            scan->left = grow(scan->left, &scan->cap_left, scan->nleft + 1, sizeof(Leftover),
                              &scan->failed);
            if (!scan->failed)
                scan->left[scan->nleft++] =
                    (Leftover){p - data, e - p, index, last_index, last_minute};
        }
        p = next;
    }
    free(scratch);
    return counted;
}

/* ---- back to Python ---- */

static int by_bin(const void *a, const void *b) {
    const BinCount *x = a, *y = b;
    return (x->bin > y->bin) - (x->bin < y->bin);
}

static void sort_bins(BinCount *bins, size_t n) {
    if (n > 32) {
        qsort(bins, n, sizeof *bins, by_bin);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        BinCount item = bins[i];
        size_t j = i;
        for (; j > 0 && bins[j - 1].bin > item.bin; j--)
            bins[j] = bins[j - 1];
        bins[j] = item;
    }
}

/* The bins grouped by group (a counting sort) and ascending within each; NULL when out of
 * memory. Groups learn how many bins they have. */
static BinCount *bins_by_group(Scan *scan) {
    size_t *start = calloc(scan->ngroups + 1, sizeof *start);
    BinCount *out = malloc((scan->nbins ? scan->nbins : 1) * sizeof *out);
    if (!start || !out) {
        free(start);
        free(out);
        return NULL;
    }
    for (size_t g = 0; g < scan->ngroups; g++)
        scan->groups[g].bins = scan->groups[g].ninline;
    for (size_t i = 0; i < scan->bin_slots; i++)
        if (scan->bins[i].count)
            scan->groups[scan->bins[i].group].bins++;
    for (size_t g = 0; g < scan->ngroups; g++)
        start[g + 1] = start[g] + scan->groups[g].bins;
    for (size_t g = 0; g < scan->ngroups; g++) {
        const Group *group = &scan->groups[g];
        for (uint32_t i = 0; i < group->ninline; i++)
            out[start[g]++] = (BinCount){(uint32_t)g, group->inline_bin[i],
                                         group->inline_count[i]};
    }
    for (size_t i = 0; i < scan->bin_slots; i++)
        if (scan->bins[i].count)
            out[start[scan->bins[i].group]++] = scan->bins[i];
    for (size_t g = 0, at = 0; g < scan->ngroups; at += scan->groups[g++].bins)
        sort_bins(out + at, scan->groups[g].bins);
    free(start);
    return out;
}

/* A group's host, method and path as str, made once per distinct key of a scan: a sparse
 * chunk has thousands of groups (a minute each) over a few dozen paths, and building
 * three strings a group was most of the time the scanner held the GIL. */
typedef struct {
    const char *key;     /* NULL: an empty slot */
    size_t len;
    uint32_t host_len, method_len;
    PyObject *names[3];  /* host, method, path */
} Names;

typedef struct {
    Names *slots;
    size_t mask;
} NameTable;

static void free_names(NameTable *table) {
    for (size_t i = 0; table->slots && i <= table->mask; i++)
        for (int k = 0; k < 3; k++)
            Py_XDECREF(table->slots[i].names[k]);
    free(table->slots);
}

/* The names of a group's key (references the table keeps), NULL with an error set. */
static PyObject **group_names(NameTable *table, const Scan *scan, const Group *g) {
    const char *key = scan->arena + g->key;
    size_t len = (size_t)g->host_len + g->method_len + g->path_len;
    size_t at = hash_key(key, len, 0, 0) & table->mask;
    Names *slot;
    for (;; at = (at + 1) & table->mask) {
        slot = &table->slots[at];
        if (!slot->key)
            break;
        if (slot->len == len && slot->host_len == g->host_len &&
            slot->method_len == g->method_len && memcmp(slot->key, key, len) == 0)
            return slot->names;
    }
    const char *method = key + g->host_len, *path = method + g->method_len;
    slot->names[0] = PyUnicode_DecodeUTF8(key, g->host_len, "replace");
    slot->names[1] = PyUnicode_DecodeASCII(method, g->method_len, "strict");
    slot->names[2] = PyUnicode_DecodeUTF8(path, g->path_len, "replace");
    if (!slot->names[0] || !slot->names[1] || !slot->names[2]) {
        for (int k = 0; k < 3; k++)
            Py_CLEAR(slot->names[k]);
        return NULL;
    }
    slot->key = key;
    slot->len = len;
    slot->host_len = g->host_len;
    slot->method_len = g->method_len;
    return slot->names;
}

static PyObject *group_tuple(NameTable *table, const Scan *scan, const Group *g,
                             const BinCount *bins) {
    PyObject *hist;
    if (g->bins) {
        hist = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)g->bins * 8);
        if (!hist)
            return NULL;
        int32_t *out = (int32_t *)PyBytes_AS_STRING(hist);
        for (uint32_t i = 0; i < g->bins; i++) {
            out[2 * i] = bins[i].bin;
            out[2 * i + 1] = (int32_t)bins[i].count;
        }
    } else {
        hist = Py_NewRef(Py_None);
    }
    PyObject **names = group_names(table, scan, g);
    if (!names) {
        Py_DECREF(hist);
        return NULL;
    }
    PyObject *counters[9] = {
        PyLong_FromLongLong(g->count), PyLong_FromLongLong(g->errors),
        PyLong_FromLongLong(g->client_errors), PyLong_FromLongLong(g->bytes),
        PyLong_FromLongLong(g->lat_count), PyFloat_FromDouble(g->lat_sum),
        PyFloat_FromDouble(g->lat_max), PyLong_FromLongLong(g->first),
        PyLong_FromLongLong(g->last)};
    PyObject *items[7] = {PyLong_FromLongLong(g->minute), Py_NewRef(names[0]),
                          Py_NewRef(names[1]), Py_NewRef(names[2]),
                          PyLong_FromLong(g->status), tuple_of(counters, 9), hist};
    return tuple_of(items, 7);
}

static PyObject *groups_list(Scan *scan) {
    BinCount *sorted = bins_by_group(scan);
    NameTable names = {NULL, 0};
    size_t size = 16;
    while (size < scan->ngroups * 2)
        size *= 2;
    names.slots = calloc(size, sizeof(Names));
    names.mask = size - 1;
    if (!sorted || !names.slots) {
        free(sorted);
        free(names.slots);
        return PyErr_NoMemory();
    }
    PyObject *list = PyList_New(0);
    size_t at = 0;
    for (size_t g = 0; list && g < scan->ngroups; g++) {
        const Group *group = &scan->groups[g];
        const BinCount *bins = sorted + at;
        at += group->bins;
        if (!group->count)
            continue; /* created for a line that then went to the line parser */
        PyObject *item = group_tuple(&names, scan, group, bins);
        if (!item || PyList_Append(list, item) < 0)
            Py_CLEAR(list);
        Py_XDECREF(item);
    }
    free_names(&names);
    free(sorted);
    return list;
}

static PyObject *leftovers_list(const Scan *scan, const char *data) {
    PyObject *list = PyList_New((Py_ssize_t)scan->nleft);
    for (size_t i = 0; list && i < scan->nleft; i++) {
        const Leftover *l = &scan->left[i];
        PyObject *item = Py_BuildValue("(ny#nL)", l->index, data + l->start, l->length,
                                       l->prev_index, (long long)l->prev_minute);
        if (!item)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static void free_scan(Scan *scan) {
    free(scan->groups);
    free(scan->slots);
    free(scan->bins);
    free(scan->arena);
    free(scan->left);
}

PyDoc_STRVAR(scan_doc,
"scan(data, scale, ln_gamma, min_bin) -> (groups, leftovers, counted, first_index, first_minute)\n\n"
"Scan a chunk of CLF lines. `scale` is ms per response-time unit (0 for auto).\n"
"groups: (minute, host, method, path, status, (count, errors, client_errors, bytes,\n"
"latency_count, latency_sum, latency_max, first, last), packed histogram or None);\n"
"leftovers: (line index, line, index of the last counted line before it or -1, its minute)\n"
"for the line parser; first_index/first_minute: the first counted line (-1 when none).");

static PyObject *scan(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer buffer;
    Settings settings;
    if (!PyArg_ParseTuple(args, "y*ddi", &buffer, &settings.scale, &settings.ln_gamma,
                          &settings.min_bin))
        return NULL;
    Scan state = {0};
    Py_ssize_t counted, first_index = -1;
    int64_t first_minute = 0;
    Py_BEGIN_ALLOW_THREADS
    counted = scan_chunk(&state, buffer.buf, buffer.len, &settings, &first_index,
                         &first_minute);
    Py_END_ALLOW_THREADS
    PyObject *result = NULL;
    if (state.failed) {
        PyErr_NoMemory();
    } else {
        PyObject *groups = groups_list(&state);
        PyObject *left = groups ? leftovers_list(&state, buffer.buf) : NULL;
        if (groups && left)
            result = Py_BuildValue("(NNnnL)", groups, left, counted, first_index,
                                   (long long)first_minute);
        else {
            Py_XDECREF(groups);
            Py_XDECREF(left);
        }
    }
    free_scan(&state);
    PyBuffer_Release(&buffer);
    return result;
}

PyDoc_STRVAR(rows_doc,
"rows(groups, series, compact) -> list\n\n"
"The stored rows of scanned groups (lists of `scan`'s groups): (series id, minute, count,\n"
"errors, client_errors, bytes, latency_count, latency_sum, latency_max, histogram, first,\n"
"last), the series id looked up in `series` by (host, method, path, status), the\n"
"histogram as `compact(blob)` makes it (None stays None; a `compact` of None keeps it).");

/* One group's row: its series id (borrowed from `series`), its minute, its counters and
 * its histogram made compact. */
static PyObject *group_row(PyObject *group, PyObject *series, PyObject *compact) {
    if (!PyTuple_Check(group) || PyTuple_GET_SIZE(group) != 7)
        return PyErr_Format(PyExc_TypeError, "not a scanned group");
    PyObject *counters = PyTuple_GET_ITEM(group, 5), *blob = PyTuple_GET_ITEM(group, 6);
    if (!PyTuple_Check(counters) || PyTuple_GET_SIZE(counters) != 9)
        return PyErr_Format(PyExc_TypeError, "not a scanned group");
    PyObject *key = PyTuple_Pack(4, PyTuple_GET_ITEM(group, 1), PyTuple_GET_ITEM(group, 2),
                                 PyTuple_GET_ITEM(group, 3), PyTuple_GET_ITEM(group, 4));
    if (!key)
        return NULL;
    PyObject *id = PyDict_GetItemWithError(series, key);
    if (!id && !PyErr_Occurred())
        PyErr_SetObject(PyExc_KeyError, key);
    Py_DECREF(key);
    if (!id)
        return NULL;
    PyObject *hist = blob == Py_None || compact == Py_None ? Py_NewRef(blob)
                     : PyObject_CallOneArg(compact, blob);
    if (!hist)
        return NULL;
    PyObject *row = PyTuple_New(12);
    if (!row) {
        Py_DECREF(hist);
        return NULL;
    }
    PyTuple_SET_ITEM(row, 0, Py_NewRef(id));
    PyTuple_SET_ITEM(row, 1, Py_NewRef(PyTuple_GET_ITEM(group, 0)));
    for (Py_ssize_t i = 0; i < 7; i++)
        PyTuple_SET_ITEM(row, 2 + i, Py_NewRef(PyTuple_GET_ITEM(counters, i)));
    PyTuple_SET_ITEM(row, 9, hist);
    PyTuple_SET_ITEM(row, 10, Py_NewRef(PyTuple_GET_ITEM(counters, 7)));
    PyTuple_SET_ITEM(row, 11, Py_NewRef(PyTuple_GET_ITEM(counters, 8)));
    return row;
}

static PyObject *rows(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *lists, *series, *compact;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyList_Type, &lists, &PyDict_Type, &series,
                          &compact))
        return NULL;
    PyObject *out = PyList_New(0);
    for (Py_ssize_t i = 0; out && i < PyList_GET_SIZE(lists); i++) {
        PyObject *groups = PyList_GET_ITEM(lists, i);
        if (!PyList_Check(groups)) {
            PyErr_SetString(PyExc_TypeError, "not a list of scanned groups");
            Py_CLEAR(out);
            break;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(groups); j++) {
            PyObject *row = group_row(PyList_GET_ITEM(groups, j), series, compact);
            if (!row || PyList_Append(out, row) < 0) {
                Py_XDECREF(row);
                Py_CLEAR(out);
                break;
            }
            Py_DECREF(row);
        }
    }
    return out;
}

PyDoc_STRVAR(chunked_doc,
"chunked(rows, per) -> (joined, rest)\n\n"
"Rows (tuples of one length) `per` at a time joined into one tuple each, for a statement\n"
"that inserts `per` rows at once, and the rows left over (fewer than `per`).");

static PyObject *chunked(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *rows;
    Py_ssize_t per;
    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &rows, &per))
        return NULL;
    if (per < 1)
        return PyErr_Format(PyExc_ValueError, "per must be at least 1");
    Py_ssize_t n = PyList_GET_SIZE(rows), whole = n / per * per;
    PyObject *joined = PyList_New(0);
    for (Py_ssize_t start = 0; joined && start < whole; start += per) {
        Py_ssize_t width = 0;
        for (Py_ssize_t i = start; i < start + per; i++) {
            PyObject *row = PyList_GET_ITEM(rows, i);
            if (!PyTuple_Check(row)) {
                PyErr_SetString(PyExc_TypeError, "a row is not a tuple");
                Py_CLEAR(joined);
                break;
            }
            width += PyTuple_GET_SIZE(row);
        }
        PyObject *flat = joined ? PyTuple_New(width) : NULL;
        if (!flat) {
            Py_CLEAR(joined);
            break;
        }
        Py_ssize_t at = 0;
        for (Py_ssize_t i = start; i < start + per; i++) {
            PyObject *row = PyList_GET_ITEM(rows, i);
            for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(row); j++)
                PyTuple_SET_ITEM(flat, at++, Py_NewRef(PyTuple_GET_ITEM(row, j)));
        }
        if (PyList_Append(joined, flat) < 0)
            Py_CLEAR(joined);
        Py_DECREF(flat);
    }
    if (!joined)
        return NULL;
    PyObject *rest = PyList_GetSlice(rows, whole, n);
    if (!rest) {
        Py_DECREF(joined);
        return NULL;
    }
    return Py_BuildValue("(NN)", joined, rest);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"rows", rows, METH_VARARGS, rows_doc},
    {"chunked", chunked, METH_VARARGS, chunked_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_clf", "The native CLF scanner (see logctl.metrics.native).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__clf(void) {
    init_classes();
    return PyModule_Create(&module);
}
