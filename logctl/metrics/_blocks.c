/* Point blocks (logctl.metrics._blocks): the points one source has in one minute, packed
 * in one blob, which is how both stores keep them (store/blocks.py).
 *
 * A sparse log puts nearly every line in a point of its own minute and series; stored a
 * row a point, each cost a B-tree insert with twelve bound values, most of an ingest's
 * writer, and ~56 bytes. A block is one row a minute: its points sorted by series id, each
 * as varints (the series id as the step from the point before), floats as varints where
 * they are whole (first/last as seconds into the minute) and as 8 raw bytes where not, so
 * every value reads back to the bit.
 *
 * Layout: a format byte (1), the number of points, then per point: zigzag(series step), a
 * flags byte, the count, errors and client errors (left out when both are 0), bytes,
 * latency count (left out when it is the count), the latency sum, the latency maximum,
 * first, last (each a varint or 8 bytes, as the flags say) and, when it has one, the
 * histogram: its number of pairs, the first (zigzag bin, count) and then (bin step, count)
 * for the rest (the steps are mostly one byte where a zigzagged bin takes two).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_pairs.h"
#include "_rolls.h"
#include "_tuple.h"
#include "_varint.h"

#define FORMAT 1
#define WHOLE_LIMIT 9007199254740992.0 /* 2**53: every whole double below is exact */
enum {
    RAW_SUM = 1, RAW_MAX = 2, RAW_FIRST = 4, RAW_LAST = 8, HAS_HIST = 16, NO_ERRORS = 32,
    SAME_COUNT = 64
};

typedef struct {
    int64_t series, minute;
    Py_ssize_t order;              /* the row's place in the input, to merge in order */
    int64_t counts[5];             /* count, errors, client errors, bytes, latency count */
    double sum, max, first, last;
    const unsigned char *hist;     /* compact pairs, NULL for none */
    Py_ssize_t hist_len;
    unsigned char *owned;          /* the histogram, when a merge made it */
} Pt;

static int broken(const char *why) {
    PyErr_Format(PyExc_ValueError, "corrupted point block: %s", why);
    return 0;
}

/* A point from a 12-column row (series id, minute, five counters, latency sum and
 * maximum, compact histogram or None, first, last); 0 with an error set if it is not one. */
static int from_row(PyObject *row, Pt *p) {
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 12) {
        PyErr_SetString(PyExc_TypeError, "a point row has 12 columns");
        return 0;
    }
    memset(p, 0, sizeof *p);
    p->series = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 0));
    p->minute = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 1));
    for (int i = 0; i < 5; i++)
        p->counts[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 2 + i));
    p->sum = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 7));
    p->max = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 8));
    p->first = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 10));
    p->last = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 11));
    PyObject *hist = PyTuple_GET_ITEM(row, 9);
    if (hist != Py_None) {
        char *bytes;
        if (PyBytes_AsStringAndSize(hist, &bytes, &p->hist_len) < 0)
            return 0;
        p->hist = p->hist_len ? (const unsigned char *)bytes : NULL;
    }
    return !PyErr_Occurred();
}

static int by_key(const void *x, const void *y) {
    const Pt *a = x, *b = y;
    if (a->minute != b->minute)
        return (a->minute > b->minute) - (a->minute < b->minute);
    if (a->series != b->series)
        return (a->series > b->series) - (a->series < b->series);
    return (a->order > b->order) - (a->order < b->order);
}

/* b's histogram added into a's: both expanded (each one histogram, its bins rising) and
 * merged as _sketch.merge merges packed ones, compact again. */
static int merge_hist(Pt *a, Pt *b) {
    if (!b->hist)
        return 1;
    if (!a->hist) {
        a->hist = b->hist;
        a->hist_len = b->hist_len;
        a->owned = b->owned;
        b->owned = NULL;
        return 1;
    }
    Py_ssize_t na, nb, n = -1;
    int32_t *x = expand_pairs(a->hist, (size_t)a->hist_len, 1, &na);
    int32_t *y = x ? expand_pairs(b->hist, (size_t)b->hist_len, 1, &nb) : NULL;
    int32_t *pairs = y ? malloc((size_t)(na + nb) * 8 + 8) : NULL;
    unsigned char *out = pairs ? malloc((size_t)(na + nb) * 2 * VARINT_MAX + 1) : NULL;
    if (y && !out)
        PyErr_NoMemory();
    else if (out && (n = merge_pairs(x, na, y, nb, pairs)) < 0)
        PyErr_SetString(PyExc_OverflowError, "histogram count overflow");
    unsigned char *end = out;
    for (Py_ssize_t i = 0; i < n; i++) {
        end = write_varint(end, zigzag(pairs[2 * i]));
        end = write_varint(end, (uint64_t)pairs[2 * i + 1]);
    }
    free(x);
    free(y);
    free(pairs);
    if (n < 0) {
        free(out);
        return 0;
    }
    free(a->owned);
    a->owned = out;
    a->hist = out;
    a->hist_len = end - out;
    return 1;
}

/* b added into a (same minute and series). */
static int merge_point(Pt *a, Pt *b) {
    for (int i = 0; i < 5; i++)
        if (__builtin_add_overflow(a->counts[i], b->counts[i], &a->counts[i])) {
            PyErr_SetString(PyExc_OverflowError, "a point's counter overflows 64 bits");
            return 0;
        }
    a->sum += b->sum;
    a->max = b->max > a->max ? b->max : a->max;
    a->first = b->first < a->first ? b->first : a->first;
    a->last = b->last > a->last ? b->last : a->last;
    return merge_hist(a, b);
}

/* Sort points by (minute, series) and merge those of one key, in input order; returns
 * how many are left at the front. */
static Py_ssize_t settle(Pt *points, Py_ssize_t n) {
    qsort(points, (size_t)n, sizeof *points, by_key);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kept && points[kept - 1].minute == points[i].minute &&
            points[kept - 1].series == points[i].series) {
            if (!merge_point(&points[kept - 1], &points[i]))
                return -1;
            free(points[i].owned);
            points[i].owned = NULL;
        } else if (kept++ != i) {
            points[kept - 1] = points[i];
            points[i].owned = NULL;
        }
    }
    return kept;
}

static void release(Pt *points, Py_ssize_t n) {
    for (Py_ssize_t i = 0; points && i < n; i++)
        free(points[i].owned);
    free(points);
}

/* A float as a varint when it is whole and at least `base` (less it), else raw. */
static unsigned char *write_float(unsigned char *out, double v, double base, int raw) {
    if (raw) {
        memcpy(out, &v, 8);
        return out + 8;
    }
    return write_varint(out, (uint64_t)(v - base));
}

static int is_whole(double v, double base) {
    return isfinite(v) && !signbit(v) && v < WHOLE_LIMIT && v >= base && v == floor(v);
}

/* A compact histogram as its number of pairs, the first pair, then (bin step, count)
 * pairs; NULL with ValueError unless its bins rise. */
static unsigned char *write_hist(unsigned char *out, const unsigned char *p, Py_ssize_t len) {
    const unsigned char *end = p + len;
    unsigned char *count_at = out++; /* the number of pairs: one byte, or moved up after */
    uint64_t n = 0;
    int64_t before = 0;
    while (p < end) {
        uint64_t zig, count;
        if (!read_varint(&p, end, &zig) || !read_varint(&p, end, &count))
            return corrupt("it ends inside a number"), NULL;
        int64_t bin = unzigzag(zig);
        if (bin < INT32_MIN || bin > INT32_MAX || count < 1 || count > INT32_MAX)
            return corrupt("a bin or a count is out of range"), NULL;
        if (n && bin <= before)
            return corrupt("its bins are not ascending"), NULL;
        out = write_varint(out, n ? (uint64_t)(bin - before) : zig);
        out = write_varint(out, count);
        before = bin;
        n++;
    }
    unsigned char head[VARINT_MAX];
    size_t width = (size_t)(write_varint(head, n) - head);
    if (width > 1)
        memmove(count_at + width, count_at + 1, (size_t)(out - count_at - 1));
    memcpy(count_at, head, width);
    return out + width - 1;
}

/* One point after the one of series `before`; NULL with an error set. */
static unsigned char *write_point(unsigned char *out, const Pt *p, int64_t before) {
    double minute = (double)p->minute;
    int quiet = !p->counts[1] && !p->counts[2], same = p->counts[4] == p->counts[0];
    int flags = (is_whole(p->sum, 0) ? 0 : RAW_SUM) | (is_whole(p->max, 0) ? 0 : RAW_MAX) |
                (is_whole(p->first, minute) ? 0 : RAW_FIRST) |
                (is_whole(p->last, minute) ? 0 : RAW_LAST) | (p->hist ? HAS_HIST : 0) |
                (quiet ? NO_ERRORS : 0) | (same ? SAME_COUNT : 0);
    out = write_varint(out, zigzag(p->series - before));
    *out++ = (unsigned char)flags;
    for (int i = 0; i < 5; i++)
        if (!((quiet && (i == 1 || i == 2)) || (same && i == 4)))
            out = write_varint(out, zigzag(p->counts[i]));
    out = write_float(out, p->sum, 0, flags & RAW_SUM);
    out = write_float(out, p->max, 0, flags & RAW_MAX);
    out = write_float(out, p->first, minute, flags & RAW_FIRST);
    out = write_float(out, p->last, minute, flags & RAW_LAST);
    return p->hist ? write_hist(out, p->hist, p->hist_len) : out;
}

/* The block of points [0, n) (one minute, sorted, merged) as its stored row: (minute,
 * points, count, errors, first, last, blob). */
static PyObject *block_row(const Pt *points, Py_ssize_t n) {
    size_t size = 1 + VARINT_MAX;
    for (Py_ssize_t i = 0; i < n; i++)
        size += 9 * VARINT_MAX + 1 + (size_t)points[i].hist_len * VARINT_MAX;
    unsigned char *buf = malloc(size), *out = buf;
    if (!buf)
        return PyErr_NoMemory();
    *out++ = FORMAT;
    out = write_varint(out, (uint64_t)n);
    int64_t count = 0, errors = 0, before = 0;
    double first = points[0].first, last = points[0].last;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(out = write_point(out, &points[i], before))) {
            free(buf);
            return NULL;
        }
        before = points[i].series;
        count += points[i].counts[0];
        errors += points[i].counts[1];
        first = points[i].first < first ? points[i].first : first;
        last = points[i].last > last ? points[i].last : last;
    }
    PyObject *items[7] = {
        PyLong_FromLongLong(points[0].minute), PyLong_FromSsize_t(n),
        PyLong_FromLongLong(count), PyLong_FromLongLong(errors), PyFloat_FromDouble(first),
        PyFloat_FromDouble(last), PyBytes_FromStringAndSize((const char *)buf, out - buf)};
    free(buf);
    return tuple_of(items, 7);
}

/* Rows of settled points, a block a minute. */
static PyObject *blocks_of(const Pt *points, Py_ssize_t n) {
    PyObject *list = PyList_New(0);
    for (Py_ssize_t start = 0, end; list && start < n; start = end) {
        for (end = start + 1; end < n && points[end].minute == points[start].minute; end++)
            ;
        PyObject *row = block_row(points + start, end - start);
        if (!row || PyList_Append(list, row) < 0)
            Py_CLEAR(list);
        Py_XDECREF(row);
    }
    return list;
}

PyDoc_STRVAR(encode_doc,
"encode(rows) -> [(minute, points, count, errors, first, last, blob)]\n\n"
"Point rows (series id, minute, five counters, latency sum and maximum, compact\n"
"histogram or None, first, last) packed a block a minute, sorted by series; rows of one\n"
"series and minute merged.");

static PyObject *encode(PyObject *module, PyObject *rows) {
    (void)module;
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Pt *points = calloc((size_t)(n ? n : 1), sizeof *points);
    PyObject *result = NULL;
    if (!points) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!from_row(PySequence_Fast_GET_ITEM(seq, i), &points[i]))
            goto done;
        points[i].order = i;
    }
    Py_ssize_t kept = settle(points, n);
    if (kept >= 0)
        result = blocks_of(points, kept);
done:
    release(points, n);
    Py_DECREF(seq);
    return result;
}

static int read_float(const unsigned char **p, const unsigned char *end, int raw, double base,
                      double *out) {
    if (raw) {
        if (end - *p < 8)
            return broken("it ends inside a number");
        memcpy(out, *p, 8);
        *p += 8;
        return 1;
    }
    uint64_t v;
    if (!read_varint(p, end, &v))
        return broken("it ends inside a number");
    *out = base + (double)v;
    return 1;
}

/* A histogram as write_hist wrote it, written compact at *arena (advanced). */
static int read_hist(const unsigned char **p, const unsigned char *end, unsigned char **arena) {
    uint64_t n, step, count;
    int64_t bin = 0;
    if (!read_varint(p, end, &n) || !n || n > (uint64_t)(end - *p) / 2)
        return broken("a histogram runs past its end");
    for (uint64_t i = 0; i < n; i++) {
        if (!read_varint(p, end, &step) || !read_varint(p, end, &count))
            return broken("a histogram runs past its end");
        bin = i ? bin + (int64_t)step : unzigzag(step);
        if ((i && !step) || bin < INT32_MIN || bin > INT32_MAX || !count || count > INT32_MAX)
            return broken("a histogram's bin or count is out of range");
        *arena = write_varint(*arena, zigzag(bin));
        *arena = write_varint(*arena, count);
    }
    return 1;
}

/* The room read_block's histograms take, compact, at most: a stored pair is two bytes at
 * least and a compact one two varints at most. */
static size_t arena_size(Py_ssize_t blob_len) { return (size_t)blob_len * VARINT_MAX + 1; }

/* The points of one block into `points` (room for its count, read first by `count_of`);
 * their histograms written compact into `arena` (arena_size of the blob). */
static int read_block(const unsigned char *p, const unsigned char *end, int64_t minute,
                      Pt *points, Py_ssize_t n, unsigned char *arena) {
    int64_t series = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Pt *pt = &points[i];
        uint64_t v;
        memset(pt, 0, sizeof *pt);
        if (!read_varint(&p, end, &v))
            return broken("it ends inside a number");
        if (p >= end)
            return broken("it ends inside a point");
        series += unzigzag(v);
        int flags = *p++;
        pt->series = series;
        pt->minute = minute;
        for (int k = 0; k < 5; k++) {
            if (((flags & NO_ERRORS) && (k == 1 || k == 2)) || ((flags & SAME_COUNT) && k == 4))
                continue;
            if (!read_varint(&p, end, &v))
                return broken("it ends inside a number");
            pt->counts[k] = unzigzag(v);
        }
        if (flags & SAME_COUNT)
            pt->counts[4] = pt->counts[0];
        if (!read_float(&p, end, flags & RAW_SUM, 0, &pt->sum) ||
            !read_float(&p, end, flags & RAW_MAX, 0, &pt->max) ||
            !read_float(&p, end, flags & RAW_FIRST, (double)minute, &pt->first) ||
            !read_float(&p, end, flags & RAW_LAST, (double)minute, &pt->last))
            return 0;
        if (flags & HAS_HIST) {
            pt->hist = arena;
            if (!read_hist(&p, end, &arena))
                return 0;
            pt->hist_len = arena - pt->hist;
        }
    }
    return p == end ? 1 : broken("bytes are left after its points");
}

/* The number of points a blob holds, and where they start; -1 with an error set. */
static Py_ssize_t count_of(const unsigned char **p, const unsigned char *end) {
    uint64_t n;
    if (*p >= end || *(*p)++ != FORMAT)
        return broken("not a point block of this version"), -1;
    if (!read_varint(p, end, &n) || n > (uint64_t)(end - *p))
        return broken("its count of points is out of range"), -1;
    return (Py_ssize_t)n;
}

static PyObject *row_of(const Pt *p) {
    PyObject *items[12] = {
        PyLong_FromLongLong(p->series), PyLong_FromLongLong(p->minute),
        PyLong_FromLongLong(p->counts[0]), PyLong_FromLongLong(p->counts[1]),
        PyLong_FromLongLong(p->counts[2]), PyLong_FromLongLong(p->counts[3]),
        PyLong_FromLongLong(p->counts[4]), PyFloat_FromDouble(p->sum),
        PyFloat_FromDouble(p->max),
        p->hist ? PyBytes_FromStringAndSize((const char *)p->hist, p->hist_len)
                : Py_NewRef(Py_None),
        PyFloat_FromDouble(p->first), PyFloat_FromDouble(p->last)};
    return tuple_of(items, 12);
}

/* The points of one (minute, blob) pair into *points, their histograms into *arena (both
 * malloc'd, freed by the caller, even on failure); their number, or -1 with an error set. */
static Py_ssize_t read_pair(PyObject *pair, Pt **points, unsigned char **arena) {
    *points = NULL;
    *arena = NULL;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        PyErr_SetString(PyExc_TypeError, "a block is a (minute, blob) pair");
        return -1;
    }
    int64_t minute = PyLong_AsLongLong(PyTuple_GET_ITEM(pair, 0));
    if (minute == -1 && PyErr_Occurred())
        return -1;
    char *buf;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(pair, 1), &buf, &len) < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    Py_ssize_t n = count_of(&p, end);
    if (n < 0)
        return -1;
    *points = malloc((size_t)(n ? n : 1) * sizeof **points);
    *arena = malloc(arena_size(len));
    if (!*points || !*arena)
        return PyErr_NoMemory(), -1;
    return read_block(p, end, minute, *points, n, *arena) ? n : -1;
}

/* Add the rows of one (minute, blob) pair to `out`. */
static int decode_one(PyObject *pair, PyObject *out) {
    Pt *points;
    unsigned char *arena;
    Py_ssize_t n = read_pair(pair, &points, &arena);
    int ok = n >= 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        PyObject *row = row_of(&points[i]);
        ok = row && PyList_Append(out, row) == 0;
        Py_XDECREF(row);
    }
    free(arena);
    free(points);
    return ok;
}

PyDoc_STRVAR(decode_doc,
"decode(blocks) -> [point row]\n\n"
"The point rows of (minute, blob) blocks, in order: each block's sorted by series.");

static PyObject *decode(PyObject *module, PyObject *blocks) {
    (void)module;
    PyObject *iter = PyObject_GetIter(blocks);
    if (!iter)
        return NULL;
    PyObject *out = PyList_New(0), *pair;
    while (out && (pair = PyIter_Next(iter))) {
        if (!decode_one(pair, out))
            Py_CLEAR(out);
        Py_DECREF(pair);
    }
    Py_DECREF(iter);
    if (PyErr_Occurred())
        Py_CLEAR(out);
    return out;
}

PyDoc_STRVAR(merge_doc,
"merge(minute, a, b) -> bytes\n\n"
"Two blocks of one minute as one: their points sorted by series, a series in both merged.");

static PyObject *merge(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (!takes(nargs, 3, "merge(minute, a, b) takes 3 arguments"))
        return NULL;
    int64_t minute = PyLong_AsLongLong(args[0]);
    if (minute == -1 && PyErr_Occurred())
        return NULL;
    const unsigned char *starts[2], *ends[2];
    Py_ssize_t counts[2], lengths[2];
    for (int k = 0; k < 2; k++) {
        char *buf;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(args[1 + k], &buf, &len) < 0)
            return NULL;
        starts[k] = (const unsigned char *)buf;
        ends[k] = starts[k] + len;
        lengths[k] = len;
        if ((counts[k] = count_of(&starts[k], ends[k])) < 0)
            return NULL;
    }
    Py_ssize_t n = counts[0] + counts[1];
    Pt *points = malloc((size_t)(n ? n : 1) * sizeof *points);
    unsigned char *arena = malloc(arena_size(lengths[0]) + arena_size(lengths[1]));
    PyObject *result = NULL;
    if (!points || !arena)
        PyErr_NoMemory();
    else if (read_block(starts[0], ends[0], minute, points, counts[0], arena) &&
             read_block(starts[1], ends[1], minute, points + counts[0], counts[1],
                        arena + arena_size(lengths[0]))) {
        for (Py_ssize_t i = 0; i < n; i++)
            points[i].order = i;
        Py_ssize_t kept = settle(points, n);
        PyObject *row = kept > 0 ? block_row(points, kept) : NULL;
        if (row)
            result = Py_NewRef(PyTuple_GET_ITEM(row, 6));
        else if (kept == 0)
            result = PyBytes_FromStringAndSize((const char[]){FORMAT, 0}, 2);
        Py_XDECREF(row);
    }
    release(points, points ? n : 0);
    free(arena);
    return result;
}

/* Each series id's key (an index), or -1 for a series the query leaves out: an array
 * indexed by id, read from the `keys` dict once. */
typedef struct {
    int64_t *of;
    int64_t size;
} KeyIndex;

static int key_index(PyObject *keys, KeyIndex *index) {
    PyObject *series, *key;
    Py_ssize_t at = 0;
    int64_t most = -1;
    while (PyDict_Next(keys, &at, &series, &key)) {
        int64_t id = PyLong_AsLongLong(series), k = PyLong_AsLongLong(key);
        if (PyErr_Occurred())
            return 0;
        if (id < 0 || id >= (1 << 26) || k < 0) {
            PyErr_SetString(PyExc_ValueError, "series ids and keys are small naturals");
            return 0;
        }
        most = id > most ? id : most;
    }
    index->size = most + 1;
    index->of = malloc((size_t)(most + 2) * sizeof(int64_t));
    if (!index->of)
        return PyErr_NoMemory(), 0;
    for (int64_t i = 0; i <= most; i++)
        index->of[i] = -1;
    at = 0;
    while (PyDict_Next(keys, &at, &series, &key))
        index->of[PyLong_AsLongLong(series)] = PyLong_AsLongLong(key);
    return 1;
}

/* Add one (minute, blob) pair's points to the totals, per (bucket, key). */
static int sum_one(PyObject *pair, const KeyIndex *index, int64_t step, Rolls *totals) {
    Pt *points;
    unsigned char *arena;
    Py_ssize_t n = read_pair(pair, &points, &arena);
    int ok = n >= 0;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        const Pt *pt = &points[i];
        int64_t key = pt->series >= 0 && pt->series < index->size ? index->of[pt->series] : -1;
        if (key < 0)
            continue;
        RowSums v = {pt->counts[0], pt->counts[1], pt->counts[2], pt->counts[3],
                     pt->counts[4], pt->sum, pt->max, pt->first, pt->last,
                     (const char *)pt->hist, pt->hist_len};
        /* the bucket as SQL's integer division cuts it (toward zero) */
        ok = roll_add(totals, step ? pt->minute / step * step : 0, key, &v) == 0;
    }
    free(arena);
    free(points);
    return ok;
}

static PyObject *total_row(const Roll *r) {
    PyObject *items[12] = {
        PyLong_FromLongLong(r->time), PyLong_FromLongLong(r->id),
        PyLong_FromLongLong(r->count), PyLong_FromLongLong(r->errors),
        PyLong_FromLongLong(r->client_errors), PyLong_FromLongLong(r->bytes),
        PyLong_FromLongLong(r->lat_count), PyFloat_FromDouble(r->lat_sum),
        PyFloat_FromDouble(r->lat_max),
        r->hist_len ? PyBytes_FromStringAndSize((const char *)r->hist, (Py_ssize_t)r->hist_len)
                    : Py_NewRef(Py_None),
        PyFloat_FromDouble(r->first), PyFloat_FromDouble(r->last)};
    return tuple_of(items, 12);
}

PyDoc_STRVAR(sums_doc,
"sums(blocks, keys, step) -> [(bucket, key, counters..., histograms, first, last)]\n\n"
"The points of (minute, blob) blocks summed per (bucket, key) as they are decoded, with no\n"
"row made for a point: `keys` maps a series id to its key (a small natural; points of\n"
"other series are left out), the bucket is the minute cut to a multiple of `step`\n"
"seconds (0 without a step). A sum's histograms are its points' compact ones back to back,\n"
"None for none (dense.pack_concat sums them).");

static PyObject *sums(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *blocks, *keys;
    long long step;
    if (!PyArg_ParseTuple(args, "OO!L", &blocks, &PyDict_Type, &keys, &step))
        return NULL;
    KeyIndex index = {NULL, 0};
    Rolls totals = {0};
    PyObject *iter = NULL, *out = NULL, *pair;
    if (rolls_init(&totals) < 0 || !key_index(keys, &index)
        || !(iter = PyObject_GetIter(blocks)))
        goto done;
    int ok = 1;
    while (ok && (pair = PyIter_Next(iter))) {
        ok = sum_one(pair, &index, step, &totals);
        Py_DECREF(pair);
    }
    if (!ok || PyErr_Occurred())
        goto done;
    out = PyList_New(0);
    for (size_t i = 0; out && i <= totals.mask; i++) {
        if (!totals.slots[i].used)
            continue;
        PyObject *row = total_row(&totals.slots[i]);
        if (!row || PyList_Append(out, row) < 0)
            Py_CLEAR(out);
        Py_XDECREF(row);
    }
done:
    Py_XDECREF(iter);
    rolls_free(&totals);
    free(index.of);
    return out;
}

PyDoc_STRVAR(size_doc, "size(blob) -> int\n\nThe number of points a block holds.");

static PyObject *size(PyObject *module, PyObject *blob) {
    (void)module;
    char *buf;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(blob, &buf, &len) < 0)
        return NULL;
    const unsigned char *p = (const unsigned char *)buf;
    Py_ssize_t n = count_of(&p, p + len);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_O, encode_doc},
    {"decode", decode, METH_O, decode_doc},
    {"merge", (PyCFunction)(void (*)(void))merge, METH_FASTCALL, merge_doc},
    {"size", size, METH_O, size_doc},
    {"sums", sums, METH_VARARGS, sums_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_blocks", "A source's points of one minute in one blob.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__blocks(void) { return PyModule_Create(&module); }
