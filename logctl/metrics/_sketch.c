/* Merging packed latency histograms (logctl.metrics._sketch).
 *
 * A packed histogram is what sketch.encode writes: native int32 (bin, count) pairs, bins
 * strictly ascending. Merging two is one linear pass, with no dict and no decode: the
 * stores call it for every point that lands on a stored one and for every row a query
 * merges. A pair whose summed count would not fit int32 raises OverflowError (as
 * array('i') does in sketch.encode), so the Python caller sees the same failure. A blob
 * whose bins are not strictly ascending or whose counts are not positive is corrupt: it
 * raises ValueError, where the pure-Python merge would read it differently.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "_pairs.h"
#include "_rolls.h"
#include "_tuple.h"
#include "_varint.h"

static PyObject *merged(const int32_t *a, Py_ssize_t na, const int32_t *b, Py_ssize_t nb) {
    int32_t *out = malloc((size_t)(na + nb) * 8 + 8);
    if (!out)
        return PyErr_NoMemory();
    Py_ssize_t n = merge_pairs(a, na, b, nb, out);
    PyObject *result = n < 0 ? PyErr_Format(PyExc_OverflowError, "histogram count overflow")
                             : PyBytes_FromStringAndSize((const char *)out, n * 8);
    free(out);
    return result;
}

PyDoc_STRVAR(merge_doc, "merge(a, b) -> bytes | None\n\n"
"Merge two packed histograms; None or empty counts as empty (both empty gives the other).");

static PyObject *merge(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b))
        return NULL;
    int a_empty = a == Py_None || (PyBytes_Check(a) && PyBytes_GET_SIZE(a) == 0);
    int b_empty = b == Py_None || (PyBytes_Check(b) && PyBytes_GET_SIZE(b) == 0);
    if (a_empty || b_empty)
        return Py_NewRef(a_empty ? b : a);
    Py_buffer x, y;
    if (PyObject_GetBuffer(a, &x, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(b, &y, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    PyObject *result = NULL;
    if (whole_pairs(x.len) && whole_pairs(y.len) && check_pairs(x.buf, x.len / 8, 1) &&
        check_pairs(y.buf, y.len / 8, 1))
        result = merged(x.buf, x.len / 8, y.buf, y.len / 8);
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    return result;
}

PyDoc_STRVAR(check_doc, "check(blob) -> None\n\n"
"Raise ValueError unless the packed histogram is whole pairs, bins ascending, counts >= 1.");

static PyObject *check_blob(PyObject *module, PyObject *blob) {
    (void)module;
    Py_buffer b;
    if (PyObject_GetBuffer(blob, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    int ok = whole_pairs(b.len) && check_pairs(b.buf, b.len / 8, 1);
    PyBuffer_Release(&b);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* A growing text buffer for COPY lines; `failed` once out of memory (an error is set). */
typedef struct {
    char *text;
    size_t len, cap;
    int failed;
} Text;

static char *reserve(Text *t, size_t more) {
    if (t->failed)
        return NULL;
    if (t->len + more > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + more)
            cap *= 2;
        char *grown = realloc(t->text, cap);
        if (!grown) {
            t->failed = 1;
            PyErr_NoMemory();
            return NULL;
        }
        t->text = grown;
        t->cap = cap;
    }
    return t->text + t->len;
}

static void append(Text *t, const char *s, size_t n) {
    char *out = reserve(t, n);
    if (out) {
        memcpy(out, s, n);
        t->len += n;
    }
}

/* An integer's digits at `out` (room for 21); returns how many. sprintf was most of the
 * time of a COPY line. */
static size_t write_int(char *out, long long v) {
    char digits[24];
    size_t n = 0, len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = digits[--n];
    return len;
}

static void append_int(Text *t, long long v) {
    char *out = reserve(t, 24);
    if (out)
        t->len += write_int(out, v);
}

/* A number as Python's repr writes it (an int's digits, a float's shortest round trip:
 * a whole float below 1e16 is its digits and ".0", as repr writes it, without dtoa). */
static int append_number(Text *t, PyObject *value) {
    if (PyLong_CheckExact(value)) {
        long long v = PyLong_AsLongLong(value);
        if (v == -1 && PyErr_Occurred())
            return -1;
        append_int(t, v);
        return t->failed ? -1 : 0;
    }
    if (PyFloat_CheckExact(value)) {
        double x = PyFloat_AS_DOUBLE(value);
        if (x > -1e16 && x < 1e16 && x == (double)(long long)x && !(x == 0 && signbit(x))) {
            append_int(t, (long long)x);
            append(t, ".0", 2);
            return t->failed ? -1 : 0;
        }
        char *repr = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (!repr)
            return -1;
        append(t, repr, strlen(repr));
        PyMem_Free(repr);
        return t->failed ? -1 : 0;
    }
    PyObject *text = PyObject_Repr(value);
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s)
        append(t, s, strlen(s));
    Py_XDECREF(text);
    return s && !t->failed ? 0 : -1;
}

/* A text field as COPY's text format spells it: backslash, tab, newline and carriage
 * return escaped. */
static int append_text(Text *t, PyObject *value) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(value, &n);
    if (!s)
        return -1;
    if (!n)
        return 0;
    char *out = reserve(t, (size_t)n * 2);
    if (!out)
        return -1;
    char *at = out;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            *at++ = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : c;
        }
        *at++ = c;
    }
    t->len += (size_t)(at - out);
    return 0;
}

static int append_dense_arrays(Text *t, PyObject *blob, int64_t low, int64_t high);

/* One COPY line: a rollup row's twelve columns, tab-separated, text escaped, the
 * histogram (the tenth, dense-packed within bins low to high) as its two arrays. */
static int append_line(Text *t, PyObject *row, int64_t low, int64_t high) {
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 12) {
        PyErr_SetString(PyExc_TypeError, "a rollup row has 12 columns");
        return -1;
    }
    for (Py_ssize_t k = 0; k < 12; k++) {
        PyObject *field = PyTuple_GET_ITEM(row, k);
        int failed = k == 9 ? append_dense_arrays(t, field, low, high)
                     : PyUnicode_Check(field) ? append_text(t, field) : append_number(t, field);
        if (failed < 0)
            return -1;
        append(t, k == 11 ? "\n" : "\t", 1);
    }
    return t->failed ? -1 : 0;
}

/* Dense packing (see metrics/dense.py): varints (LEB128) throughout. The lowest dense bin
 * as its distance from `low`, the number of dense fields, one count per bin from the lowest
 * (a run of empty bins as 0 and the number of empty bins after the first), then the bins
 * outside [low, high] as (zigzag bin, count) pairs, ascending. A rollup's counts are mostly
 * small: one byte a bin where int64 fields took 8, and two a run of empty ones. */

static int by_bin(const void *x, const void *y) {
    int64_t a = ((const int64_t *)x)[0], b = ((const int64_t *)y)[0];
    return (a > b) - (a < b);
}

static int add64(int64_t *target, int64_t value) {
    if (__builtin_add_overflow(*target, value, target)) {
        PyErr_SetString(PyExc_OverflowError, "histogram count overflow");
        return 0;
    }
    return 1;
}

/* Compact packing (see sketch.compact): a packed histogram's (bin, count) pairs as
 * varints, the bin zigzagged: two or three bytes a pair where the int32 pair takes eight.
 * Blobs written back to back are still a list of pairs, so a group's blobs joined by SQL
 * read as one. */
PyDoc_STRVAR(compact_doc, "compact(blob) -> bytes | None\n\n"
"A packed histogram's pairs as varints; None or empty gives None.");

static PyObject *compact(PyObject *module, PyObject *blob) {
    (void)module;
    if (blob == Py_None)
        Py_RETURN_NONE;
    Py_buffer b;
    if (PyObject_GetBuffer(blob, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = b.len / 8;
    const int32_t *pairs = b.buf;
    if (!whole_pairs(b.len) || !check_pairs(pairs, n, 1))
        goto done;
    if (!n) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    unsigned char *buf = malloc((size_t)n * 2 * VARINT_MAX);
    if (!buf) {
        PyErr_NoMemory();
        goto done;
    }
    unsigned char *out = buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        out = write_varint(out, zigzag(pairs[2 * i]));
        out = write_varint(out, (uint64_t)pairs[2 * i + 1]);
    }
    result = PyBytes_FromStringAndSize((const char *)buf, out - buf);
    free(buf);
done:
    PyBuffer_Release(&b);
    return result;
}

PyDoc_STRVAR(expand_doc, "expand(blob, ascending) -> bytes | None\n\n"
"The int32 pairs of compact varint pairs (None or empty gives None); with `ascending`,\n"
"bins must rise (one histogram), without it pairs may repeat bins (blobs joined).");

static PyObject *expand(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *blob;
    int ascending;
    if (!PyArg_ParseTuple(args, "Op", &blob, &ascending))
        return NULL;
    if (blob == Py_None)
        Py_RETURN_NONE;
    Py_buffer b;
    if (PyObject_GetBuffer(blob, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n;
    int32_t *pairs = expand_pairs(b.buf, (size_t)b.len, ascending, &n);
    PyObject *result = !pairs ? NULL
                       : n ? PyBytes_FromStringAndSize((const char *)pairs, n * 8)
                           : Py_NewRef(Py_None);
    free(pairs);
    PyBuffer_Release(&b);
    return result;
}

/* Sort outlier (bin, count) pairs and add those of one bin; returns the pairs kept. */
static Py_ssize_t fold_outliers(int64_t *odd, Py_ssize_t n) {
    qsort(odd, (size_t)n, 16, by_bin);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kept && odd[2 * (kept - 1)] == odd[2 * i]) {
            if (!add64(&odd[2 * (kept - 1) + 1], odd[2 * i + 1]))
                return -1;
        } else {
            odd[2 * kept] = odd[2 * i];
            odd[2 * kept++ + 1] = odd[2 * i + 1];
        }
    }
    return kept;
}

/* The packed bytes of `fields` counts from bin `first` (empty edges trimmed) and `kept`
 * sorted outlier pairs. */
static PyObject *write_dense(int64_t low, int64_t first, const int64_t *sums, int64_t fields,
                             const int64_t *odd, Py_ssize_t kept) {
    while (fields && !sums[0]) {
        sums++;
        first++;
        fields--;
    }
    while (fields && !sums[fields - 1])
        fields--;
    unsigned char *buf = malloc((size_t)(2 + fields + 2 * kept) * VARINT_MAX);
    if (!buf)
        return PyErr_NoMemory();
    unsigned char *out = write_varint(buf, fields ? (uint64_t)(first - low) : 0);
    out = write_varint(out, (uint64_t)fields);
    for (int64_t i = 0; i < fields; i++) {
        out = write_varint(out, (uint64_t)sums[i]);
        if (!sums[i]) {
            int64_t run = 0;
            while (i + 1 < fields && !sums[i + 1])
                i++, run++;
            out = write_varint(out, (uint64_t)run);
        }
    }
    for (Py_ssize_t i = 0; i < kept; i++) {
        out = write_varint(out, zigzag(odd[2 * i]));
        out = write_varint(out, (uint64_t)odd[2 * i + 1]);
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)buf, out - buf);
    free(buf);
    return result;
}

/* Sum n (bin, count) pairs, in any order, into a new dense-packed bytes object. */
static PyObject *pack_pairs(const int32_t *pairs, Py_ssize_t n, int64_t low, int64_t high) {
    int64_t first = INT64_MAX, last = INT64_MIN;
    Py_ssize_t outliers = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t bin = pairs[2 * i];
        if (bin < low || bin > high) {
            outliers++;
            continue;
        }
        first = bin < first ? bin : first;
        last = bin > last ? bin : last;
    }
    int64_t fields = first > last ? 0 : last - first + 1;
    int64_t *sums = calloc((size_t)(fields + 2 * outliers) + 1, 8);
    if (!sums)
        return PyErr_NoMemory();
    int64_t *odd = sums + fields;
    Py_ssize_t o = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t bin = pairs[2 * i];
        if (bin < low || bin > high) {
            odd[2 * o] = bin;
            odd[2 * o++ + 1] = pairs[2 * i + 1];
        } else if (!add64(&sums[bin - first], pairs[2 * i + 1])) {
            goto done;
        }
    }
    Py_ssize_t kept = fold_outliers(odd, o);
    if (kept >= 0)
        result = write_dense(low, first, sums, fields, odd, kept);
done:
    free(sums);
    return result;
}

PyDoc_STRVAR(pack_concat_doc, "pack_concat(low, high, compact) -> bytes\n\n"
"Sum compact histograms written back to back (None or empty for none), as SQL's\n"
"group_concat joins a group's blobs, and pack the sum dense, with bins outside\n"
"[low, high] as sparse pairs. Called with the bounds bound (functools.partial), it is\n"
"the SQL function hist_dense with no Python frame per group.");

static PyObject *pack_concat(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (!takes(nargs, 3, "pack_concat(low, high, compact)"))
        return NULL;
    long long low = PyLong_AsLongLong(args[0]), high = PyLong_AsLongLong(args[1]);
    if (PyErr_Occurred())
        return NULL;
    if (args[2] == Py_None)
        return pack_pairs(NULL, 0, low, high);
    Py_buffer b;
    if (PyObject_GetBuffer(args[2], &b, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t n;
    int32_t *pairs = expand_pairs(b.buf, (size_t)b.len, 0, &n);
    PyObject *result = pairs ? pack_pairs(pairs, n, low, high) : NULL;
    free(pairs);
    PyBuffer_Release(&b);
    return result;
}

/* Batch rollups: a batch's point rows summed per (hour, series), (day, series) and minute
 * (the table in _rolls.h), the histograms packed dense as the rebuild's
 * hist_dense(group_concat(hist)) packs them, so that a write can add them to the rollups of
 * hours that are clean. */
/* A rollup row: (key, time) or (time, id) first, then the sums, the histogram dense. */
static PyObject *roll_row(const Roll *r, PyObject *key, int64_t low, int64_t high) {
    /* Packed even when empty, as the rebuild's hist_dense of no histogram packs it. */
    Py_ssize_t n;
    int32_t *pairs = expand_pairs(r->hist, r->hist_len, 0, &n);
    if (!pairs)
        return NULL;
    PyObject *hist = pack_pairs(pairs, n, low, high);
    free(pairs);
    PyObject *items[12] = {
        key ? Py_NewRef(key) : PyLong_FromLongLong(r->time),
        key ? PyLong_FromLongLong(r->time) : PyLong_FromLongLong(r->id),
        PyLong_FromLongLong(r->count), PyLong_FromLongLong(r->errors),
        PyLong_FromLongLong(r->client_errors), PyLong_FromLongLong(r->bytes),
        PyLong_FromLongLong(r->lat_count), PyFloat_FromDouble(r->lat_sum),
        PyFloat_FromDouble(r->lat_max), hist, PyFloat_FromDouble(r->first),
        PyFloat_FromDouble(r->last)};
    return tuple_of(items, 12);
}

static PyObject *roll_list(const Rolls *t, PyObject *key, int64_t low, int64_t high) {
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i <= t->mask; i++) {
        if (!t->slots[i].used)
            continue;
        PyObject *row = roll_row(&t->slots[i], key, low, high);
        if (!row || PyList_Append(list, row) < 0)
            Py_CLEAR(list);
        Py_XDECREF(row);
    }
    return list;
}

static int is_in(const int64_t *sorted, Py_ssize_t n, int64_t value) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && sorted[lo] == value;
}

static inline int64_t floor_to(int64_t t, int64_t unit) {
    return t - ((t % unit) + unit) % unit;
}

/* One point row's sums; -1 with an error set when it is not a 12-column point row. */
static int row_sums(PyObject *row, int64_t *series, int64_t *minute, RowSums *v) {
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 12) {
        PyErr_SetString(PyExc_TypeError, "a rollup row has 12 columns");
        return -1;
    }
    PyObject *hist = PyTuple_GET_ITEM(row, 9);
    *series = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 0));
    *minute = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 1));
    v->count = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 2));
    v->errors = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 3));
    v->client_errors = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 4));
    v->bytes = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 5));
    v->lat_count = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 6));
    v->lat_sum = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 7));
    v->lat_max = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 8));
    v->first = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 10));
    v->last = PyFloat_AsDouble(PyTuple_GET_ITEM(row, 11));
    v->hist = NULL;
    v->hist_len = 0;
    if (hist != Py_None && PyBytes_AsStringAndSize(hist, (char **)&v->hist, &v->hist_len) < 0)
        return -1;
    return PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(rollups_doc,
"rollups(rows, hours, source, low, high) -> (hour_rows, day_rows, source_rows)\n\n"
"SQLite point rows (series id, minute, counters, compact histogram, first, last) of the\n"
"minutes in `hours` (sorted epoch hours) summed as rollup rows: per (hour, series id),\n"
"per (day, series id), and per minute as (source, minute, ...) rows; each histogram the\n"
"dense packing of the sum of the rows' histograms.");

static PyObject *rollups(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *rows, *hours, *source;
    long long low, high;
    if (!PyArg_ParseTuple(args, "O!O!OLL", &PyList_Type, &rows, &PyList_Type, &hours, &source,
                          &low, &high))
        return NULL;
    Py_ssize_t nhours = PyList_GET_SIZE(hours);
    int64_t *clean = malloc((size_t)(nhours ? nhours : 1) * sizeof *clean);
    Rolls tables[3] = {{0}, {0}, {0}};
    PyObject *result = NULL;
    if (!clean) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nhours; i++) {
        clean[i] = PyLong_AsLongLong(PyList_GET_ITEM(hours, i));
        if ((i && clean[i] <= clean[i - 1]) || PyErr_Occurred()) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "hours must be ascending");
            goto done;
        }
    }
    for (int k = 0; k < 3; k++)
        if (rolls_init(&tables[k]) < 0)
            goto done;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        int64_t series, minute;
        RowSums v;
        if (row_sums(PyList_GET_ITEM(rows, i), &series, &minute, &v) < 0)
            goto done;
        int64_t hour = floor_to(minute, 3600);
        if (!is_in(clean, nhours, hour))
            continue;
        if (roll_add(&tables[0], hour, series, &v) < 0 || roll_add(&tables[2], minute, 0, &v) < 0)
            goto done;
    }
    /* Days from the hours: a few rows each, where a row each would repeat the work. */
    for (size_t i = 0; i <= tables[0].mask; i++) {
        const Roll *r = &tables[0].slots[i];
        if (!r->used)
            continue;
        RowSums v = {r->count, r->errors, r->client_errors, r->bytes, r->lat_count,
                     r->lat_sum, r->lat_max, r->first, r->last, (const char *)r->hist,
                     (Py_ssize_t)r->hist_len};
        if (roll_add(&tables[1], floor_to(r->time, 86400), r->id, &v) < 0)
            goto done;
    }
    PyObject *lists[3] = {roll_list(&tables[0], NULL, low, high),
                          roll_list(&tables[1], NULL, low, high),
                          roll_list(&tables[2], source, low, high)};
    if (lists[0] && lists[1] && lists[2])
        result = PyTuple_Pack(3, lists[0], lists[1], lists[2]);
    for (int k = 0; k < 3; k++)
        Py_XDECREF(lists[k]);
done:
    for (int k = 0; k < 3; k++)
        rolls_free(&tables[k]);
    free(clean);
    return result;
}

PyDoc_STRVAR(sums_doc,
"sums(rows, keys, step, low, high) -> [(bucket, key, sums..., dense histogram, first, last)]\n\n"
"SQLite point rows summed per (bucket, key): `keys` maps a row's series id to its key (an\n"
"int; rows of other series are left out), the bucket is the minute cut to a multiple of\n"
"`step` seconds as SQL's integer division cuts it (0 without a step); each histogram the\n"
"dense packing of the sum of the rows' histograms.");

static PyObject *sums(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *rows, *keys;
    long long step, low, high;
    if (!PyArg_ParseTuple(args, "O!O!LLL", &PyList_Type, &rows, &PyDict_Type, &keys, &step,
                          &low, &high))
        return NULL;
    Rolls table = {0};
    PyObject *result = NULL;
    if (rolls_init(&table) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rows); i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 12) {
            PyErr_SetString(PyExc_TypeError, "a rollup row has 12 columns");
            goto done;
        }
        PyObject *key = PyDict_GetItemWithError(keys, PyTuple_GET_ITEM(row, 0));
        if (!key) {
            if (PyErr_Occurred())
                goto done;
            continue;
        }
        int64_t series, minute, id = PyLong_AsLongLong(key);
        RowSums v;
        if ((id == -1 && PyErr_Occurred()) || row_sums(row, &series, &minute, &v) < 0)
            goto done;
        if (roll_add(&table, step ? minute / step * step : 0, id, &v) < 0)
            goto done;
    }
    result = roll_list(&table, NULL, low, high);
done:
    rolls_free(&table);
    return result;
}

/* DenseSum: the SQL aggregate that sums a group of dense-packed histograms (the rollups'
 * hist_sum_agg), with step and finalize in C so a query's thousands of rows cost no Python
 * frame each; also what a query decodes each row with (add, histogram). Built with the
 * dense bounds (low, high); a group of one row gives its blob back untouched. Refuses what
 * dense.DenseSum.add refuses, with ValueError. */
typedef struct {
    PyObject_HEAD
    int64_t low, high;   /* the bins dense fields may hold */
    PyObject *only;      /* the group's blob while it has one */
    int64_t base;        /* sums[i] counts bin base + i */
    int64_t *sums;
    Py_ssize_t size;
    int64_t *odd;        /* outlier (bin, count) pairs, unsorted */
    Py_ssize_t nodd, capodd;
    int added;
} DenseSum;

/* DenseSum(low, high), or DenseSum() in a subclass whose `bounds` attribute is (low,
 * high): SQLite makes one per group of an aggregate, and a Python __init__ there cost a
 * frame each. */
static int dense_init(DenseSum *self, PyObject *args, PyObject *kwds) {
    (void)kwds;
    long long low, high;
    PyObject *bounds = NULL;
    if (!PyTuple_GET_SIZE(args)) {
        bounds = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "bounds");
        if (!bounds)
            return -1;
        args = bounds;
    }
    int parsed = PyArg_ParseTuple(args, "LL", &low, &high);
    Py_XDECREF(bounds);
    if (!parsed)
        return -1;
    self->low = low;
    self->high = high;
    return 0;
}

static void dense_dealloc(DenseSum *self) {
    Py_XDECREF(self->only);
    free(self->sums);
    free(self->odd);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Make sums cover [first, first + n). */
static int cover(DenseSum *self, int64_t first, int64_t n) {
    if (!self->size) {
        self->sums = calloc((size_t)n ? (size_t)n : 1, 8);
        if (!self->sums)
            return PyErr_NoMemory(), 0;
        self->base = first;
        self->size = n;
        return 1;
    }
    int64_t lo = first < self->base ? first : self->base;
    int64_t hi_new = first + n, hi_old = self->base + self->size;
    int64_t hi = hi_new > hi_old ? hi_new : hi_old;
    if (lo == self->base && hi == hi_old)
        return 1;
    int64_t *grown = calloc((size_t)(hi - lo), 8);
    if (!grown)
        return PyErr_NoMemory(), 0;
    memcpy(grown + (self->base - lo), self->sums, (size_t)self->size * 8);
    free(self->sums);
    self->sums = grown;
    self->base = lo;
    self->size = hi - lo;
    return 1;
}

static int add_outlier(DenseSum *self, int64_t bin, int64_t count) {
    if (self->nodd == self->capodd) {
        Py_ssize_t cap = self->capodd ? 2 * self->capodd : 8;
        int64_t *grown = realloc(self->odd, (size_t)cap * 16);
        if (!grown)
            return PyErr_NoMemory(), 0;
        self->odd = grown;
        self->capodd = cap;
    }
    self->odd[2 * self->nodd] = bin;
    self->odd[2 * self->nodd++ + 1] = count;
    return 1;
}

static int add_outliers(DenseSum *self, const unsigned char *p, const unsigned char *end) {
    int64_t last = 0;
    for (int pairs = 0; p < end; pairs++) {
        uint64_t zig;
        int64_t count;
        if (!read_varint(&p, end, &zig))
            return corrupt("it ends inside a number");
        int64_t bin = unzigzag(zig);
        if (!read_count(&p, end, &count))
            return 0;
        if (count < 1)
            return corrupt("a count is below 1");
        if ((pairs && bin <= last) || (bin >= self->low && bin <= self->high))
            return corrupt("its outlying bins are not ascending or not outlying");
        last = bin;
        if (!add_outlier(self, bin, count))
            return 0;
    }
    return 1;
}

static int dense_add(DenseSum *self, PyObject *blob) {
    Py_buffer b;
    if (PyObject_GetBuffer(blob, &b, PyBUF_SIMPLE) < 0)
        return 0;
    int ok = 0;
    const unsigned char *p = b.buf, *end = p + b.len;
    uint64_t offset, fields;
    if (!read_varint(&p, end, &offset) || !read_varint(&p, end, &fields)) {
        corrupt("it is shorter than its header");
        goto done;
    }
    if (offset > (uint64_t)(self->high - self->low)
        || (fields && (int64_t)fields > self->high - self->low - (int64_t)offset + 1)) {
        corrupt("its header does not match its length");
        goto done;
    }
    if (fields) {
        int64_t first = self->low + (int64_t)offset;
        if (!cover(self, first, (int64_t)fields))
            goto done;
        int64_t *into = self->sums + (first - self->base);
        for (uint64_t i = 0; i < fields; i++) {
            int64_t n;
            uint64_t run;
            if (!read_count(&p, end, &n))
                goto done;
            if (n) {
                if (!add64(&into[i], n))
                    goto done;
                continue;
            }
            if (!read_varint(&p, end, &run)) {
                corrupt("it ends inside a number");
                goto done;
            }
            if (run >= fields - i) {
                corrupt("its header does not match its length");
                goto done;
            }
            i += run;
        }
    }
    if (!add_outliers(self, p, end))
        goto done;
    self->added = 1;
    ok = 1;
done:
    PyBuffer_Release(&b);
    return ok;
}

/* Parse the group's one blob kept aside by step, now that it needs adding to. */
static int take_only(DenseSum *self) {
    if (!self->only)
        return 1;
    PyObject *only = self->only;
    self->only = NULL;
    int ok = dense_add(self, only);
    Py_DECREF(only);
    return ok;
}

static PyObject *dense_step(DenseSum *self, PyObject *blob) {
    if (blob == Py_None)
        Py_RETURN_NONE;
    if (!self->added && !self->only) {
        Py_INCREF(blob);
        self->only = blob;
        Py_RETURN_NONE;
    }
    if (!take_only(self) || !dense_add(self, blob))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *dense_add_method(DenseSum *self, PyObject *blob) {
    if (!take_only(self) || !dense_add(self, blob))
        return NULL;
    Py_RETURN_NONE;
}

/* Every blob parsed and the outliers folded; 0 on an error. */
static int settle(DenseSum *self) {
    if (!take_only(self))
        return 0;
    Py_ssize_t kept = fold_outliers(self->odd, self->nodd);
    if (kept < 0)
        return 0;
    self->nodd = kept;
    return 1;
}

static PyObject *dense_finalize(DenseSum *self, PyObject *unused) {
    (void)unused;
    if (self->only) {
        Py_INCREF(self->only);
        return self->only;
    }
    if (!self->added)
        Py_RETURN_NONE;
    if (!settle(self))
        return NULL;
    return write_dense(self->low, self->base, self->sums, self->size, self->odd, self->nodd);
}

static PyObject *dense_histogram(DenseSum *self, PyObject *unused) {
    (void)unused;
    if (!settle(self))
        return NULL;
    PyObject *hist = PyDict_New();
    if (!hist)
        return NULL;
    for (Py_ssize_t i = 0; i < self->size + self->nodd; i++) {
        int64_t bin = i < self->size ? self->base + i : self->odd[2 * (i - self->size)];
        int64_t count = i < self->size ? self->sums[i] : self->odd[2 * (i - self->size) + 1];
        if (!count)
            continue;
        PyObject *key = PyLong_FromLongLong(bin), *value = PyLong_FromLongLong(count);
        int failed = !key || !value || PyDict_SetItem(hist, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (failed) {
            Py_DECREF(hist);
            return NULL;
        }
    }
    return hist;
}

/* A dense-packed histogram's bins and counts as two PostgreSQL array literals joined by a
 * tab, bins ascending: outliers below the dense bins first, those above after them. */
static int append_dense_arrays(Text *t, PyObject *blob, int64_t low, int64_t high) {
    if (blob == Py_None) {
        append(t, "{}\t{}", 5);
        return t->failed ? -1 : 0;
    }
    DenseSum sum;
    memset(&sum, 0, sizeof sum);
    sum.low = low;
    sum.high = high;
    int ok = dense_add(&sum, blob) && settle(&sum);
    Py_ssize_t below = 0, bins = sum.size + sum.nodd;
    while (ok && below < sum.nodd && sum.odd[2 * below] < low)
        below++;
    char *out = ok ? reserve(t, (size_t)bins * 42 + 8) : NULL; /* 20 digits, sign, comma */
    if (out) {
        char *at = out;
        for (int half = 0; half < 2; half++) {
            *at++ = '{';
            int first = 1;
            for (Py_ssize_t k = 0; k < bins; k++) {
                /* outliers below, dense fields, outliers above */
                Py_ssize_t o = k < below ? k : k - sum.size;
                int dense = k >= below && k < below + sum.size;
                int64_t bin = dense ? sum.base + (k - below) : sum.odd[2 * o];
                int64_t count = dense ? sum.sums[k - below] : sum.odd[2 * o + 1];
                if (!count)
                    continue;
                if (!first)
                    *at++ = ',';
                first = 0;
                at += write_int(at, half ? count : bin);
            }
            *at++ = '}';
            if (!half)
                *at++ = '\t';
        }
        t->len += (size_t)(at - out);
    }
    free(sum.sums);
    free(sum.odd);
    return out ? 0 : -1;
}

PyDoc_STRVAR(copy_rollup_lines_doc, "copy_rollup_lines(rows, low, high) -> str\n\n"
"Rollup rows (two key columns, seven counters, dense-packed histogram within bins low to\n"
"high, first, last) as the lines of PostgreSQL's COPY text format: numbers as repr writes\n"
"them, text keys escaped, the histogram as its two arrays of bins and counts.");

static PyObject *copy_rollup_lines(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *rows;
    long long low, high;
    if (!PyArg_ParseTuple(args, "OLL", &rows, &low, &high))
        return NULL;
    PyObject *seq = PySequence_Fast(rows, "rows must be a sequence");
    if (!seq)
        return NULL;
    Text t = {NULL, 0, 0, 0};
    PyObject *result = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Py_ssize_t i = 0;
    for (; i < n; i++)
        if (append_line(&t, PySequence_Fast_GET_ITEM(seq, i), low, high) < 0)
            break;
    if (i == n)
        result = PyUnicode_DecodeUTF8(t.text ? t.text : "", (Py_ssize_t)t.len, "strict");
    free(t.text);
    Py_DECREF(seq);
    return result;
}

/* The nearest-rank q-quantile (rank ceil(q*n), at least 1) of each q in a settled sum, as
 * sketch.quantiles reads them from the sum's dict, without making the dict. A bin's value
 * is 2 * gamma**bin / (gamma + 1) (the zero bin: 0), clamped to `maximum` unless it is
 * None. */
#define MAX_LEVELS 64

/* A walk over a histogram's bins in ascending order that finds several quantile levels in
 * one pass: each level's nearest rank, the levels in rank order, and the value of the bin
 * where the running count reaches a level's rank (2 * gamma**bin / (gamma + 1), the zero
 * bin 0, clamped to `most`). */
typedef struct {
    int64_t ranks[MAX_LEVELS];
    Py_ssize_t order[MAX_LEVELS];
    Py_ssize_t nq, next;
    int64_t running, bin;
    double gamma, most, *values;
    int64_t zero_bin;
} Walk;

static void walk_start(Walk *w, const double *qs, Py_ssize_t nq, int64_t total, double gamma,
                       int64_t zero_bin, double most, double *values) {
    w->nq = nq;
    w->next = w->running = w->bin = 0;
    w->gamma = gamma;
    w->zero_bin = zero_bin;
    w->most = most;
    w->values = values;
    for (Py_ssize_t k = 0; k < nq; k++) {
        double wanted = ceil(qs[k] * (double)total);
        w->ranks[k] = wanted < 1.0 ? 1 : (int64_t)wanted;
        Py_ssize_t at = k;
        for (; at > 0 && w->ranks[w->order[at - 1]] > w->ranks[k]; at--)
            w->order[at] = w->order[at - 1];
        w->order[at] = k;
    }
}

static int walk_done(const Walk *w) { return w->next == w->nq; }

/* The next level in rank order takes the value of the walk's bin. */
static void take(Walk *w) {
    int64_t bin = w->bin;
    double v = bin == w->zero_bin ? 0.0 : 2 * pow(w->gamma, (double)bin) / (w->gamma + 1);
    w->values[w->order[w->next++]] = w->most < v ? w->most : v;
}

static void visit(Walk *w, int64_t bin, int64_t count) {
    w->bin = bin;
    w->running += count;
    while (w->next < w->nq && w->running >= w->ranks[w->order[w->next]])
        take(w);
}

/* Levels past every count (a level over 1) take the last bin. */
static void walk_end(Walk *w) {
    while (!walk_done(w))
        take(w);
}

/* The quantiles of a settled sum at `qs` (as sketch.quantiles reads them from the sum's
 * dict, without making the dict) into `values`; *empty when it counts nothing. 0 with an
 * OverflowError when its total passes int64. */
static int sum_levels(const DenseSum *self, const double *qs, Py_ssize_t nq, double gamma,
                      int64_t zero_bin, double most, double *values, int *empty) {
    Py_ssize_t total_bins = self->size + self->nodd, below = 0;
    /* Outliers below the dense bins come first, those above after them. */
    while (below < self->nodd && self->odd[2 * below] < self->base)
        below++;
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < total_bins; i++)
        if (__builtin_add_overflow(total, i < self->size ? self->sums[i]
                                   : self->odd[2 * (i - self->size) + 1], &total)) {
            PyErr_SetString(PyExc_OverflowError, "histogram count overflow");
            return 0;
        }
    *empty = !total;
    if (!total)
        return 1;
    Walk w;
    walk_start(&w, qs, nq, total, gamma, zero_bin, most, values);
    for (Py_ssize_t i = 0; i < total_bins && !walk_done(&w); i++) {
        int dense = i >= below && i < below + self->size;
        Py_ssize_t odd = i < below ? i : i - self->size;
        visit(&w, dense ? self->base + (i - below) : self->odd[2 * odd],
              dense ? self->sums[i - below] : self->odd[2 * odd + 1]);
    }
    walk_end(&w);
    return 1;
}

/* A list of the levels' values, None for each when the histogram counts nothing. */
static PyObject *level_list(const double *values, Py_ssize_t nq, int empty) {
    PyObject *result = PyList_New(nq);
    for (Py_ssize_t k = 0; result && k < nq; k++) {
        PyObject *value = empty ? Py_NewRef(Py_None) : PyFloat_FromDouble(values[k]);
        if (!value)
            Py_CLEAR(result);
        else
            PyList_SET_ITEM(result, k, value);
    }
    return result;
}

/* Quantile levels of a Python sequence as doubles (at most MAX_LEVELS); -1 with an error. */
static Py_ssize_t levels_of(PyObject *qs, double *out) {
    PyObject *levels = PySequence_Fast(qs, "qs must be a sequence");
    if (!levels)
        return -1;
    Py_ssize_t nq = PySequence_Fast_GET_SIZE(levels);
    if (nq > MAX_LEVELS) {
        Py_DECREF(levels);
        PyErr_SetString(PyExc_ValueError, "too many quantile levels");
        return -1;
    }
    for (Py_ssize_t k = 0; k < nq; k++)
        out[k] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(levels, k));
    Py_DECREF(levels);
    return PyErr_Occurred() ? -1 : nq;
}

/* The quantiles of one dense-packed blob read in place (sum_levels' answer for it, the
 * maximum given): two walks over its varints and no allocation, where summing it first
 * cost a zeroed array of every bin between its lowest and highest. 1 with `values` set
 * (*empty when it counts nothing); 0 for a blob that is anything but well formed, which
 * the caller then sums the checked way, to report what is wrong with it. */
static int blob_quantiles(PyObject *blob, int64_t low, int64_t high, const double *qs,
                          Py_ssize_t nq, double gamma, int64_t zero_bin, double most,
                          double *values, int *empty) {
    if (!PyBytes_Check(blob) || nq > MAX_LEVELS)
        return 0;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(blob);
    const unsigned char *end = p + PyBytes_GET_SIZE(blob);
    uint64_t offset, fields, n, total = 0;
    if (!read_varint(&p, end, &offset) || !read_varint(&p, end, &fields)
        || offset > (uint64_t)(high - low)
        || (fields && fields > (uint64_t)(high - low) - offset + 1))
        return 0;
    const unsigned char *dense_at = p;
    for (uint64_t i = 0; i < fields; i++) {
        if (!read_varint(&p, end, &n) || n > INT64_MAX)
            return 0;
        if (n) {
            if (__builtin_add_overflow(total, n, &total))
                return 0;
            continue;
        }
        uint64_t run;
        if (!read_varint(&p, end, &run) || run >= fields - i)
            return 0;
        i += run;
    }
    const unsigned char *odd_at = p;
    int64_t last = 0;
    Py_ssize_t pairs = 0, below = 0;
    while (p < end) {
        uint64_t zig;
        if (!read_varint(&p, end, &zig) || !read_varint(&p, end, &n) || !n || n > INT64_MAX)
            return 0;
        int64_t bin = unzigzag(zig);
        if ((pairs && bin <= last) || (bin >= low && bin <= high)
            || __builtin_add_overflow(total, n, &total))
            return 0;
        last = bin;
        below += bin < low;
        pairs++;
    }
    if (total > INT64_MAX)
        return 0;
    *empty = !total;
    if (!total)
        return 1;
    Walk w;
    walk_start(&w, qs, nq, (int64_t)total, gamma, zero_bin, most, values);
    uint64_t zig;
    p = odd_at;
    for (Py_ssize_t k = 0; k < below; k++) {
        read_varint(&p, end, &zig);
        read_varint(&p, end, &n);
        visit(&w, unzigzag(zig), (int64_t)n);
    }
    const unsigned char *d = dense_at;
    for (uint64_t i = 0; i < fields; i++) {
        read_varint(&d, end, &n);
        if (walk_done(&w))
            return 1;
        if (n) {
            visit(&w, low + (int64_t)offset + (int64_t)i, (int64_t)n);
            continue;
        }
        uint64_t run;
        read_varint(&d, end, &run);
        i += run;
    }
    while (p < end && !walk_done(&w)) {
        read_varint(&p, end, &zig);
        read_varint(&p, end, &n);
        visit(&w, unzigzag(zig), (int64_t)n);
    }
    walk_end(&w);
    return 1;
}

/* The quantiles of a dense-packed blob: read in place where it is well formed, else
 * summed the checked way (which says what is wrong with it). 0 with an error set: a
 * ValueError for a corrupt blob, an OverflowError for a total past int64. */
static int blob_levels(PyObject *blob, int64_t low, int64_t high, const double *qs,
                       Py_ssize_t nq, double gamma, int64_t zero_bin, double most,
                       double *values, int *empty) {
    if (blob_quantiles(blob, low, high, qs, nq, gamma, zero_bin, most, values, empty))
        return 1;
    DenseSum sum;
    memset(&sum, 0, sizeof sum);
    sum.low = low;
    sum.high = high;
    int ok = dense_add(&sum, blob) && settle(&sum)
             && sum_levels(&sum, qs, nq, gamma, zero_bin, most, values, empty);
    free(sum.sums);
    free(sum.odd);
    return ok;
}

PyDoc_STRVAR(quantiles_dense_doc,
"quantiles_dense(low, high, gamma, zero_bin, blob, qs, maximum) -> list\n\n"
"sketch.quantiles of a dense-packed histogram, read without a dict of its bins or a sum\n"
"object: a one-minute series over days asks this of every bucket.");

static PyObject *quantiles_dense(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (!takes(nargs, 7, "quantiles_dense(low, high, gamma, zero_bin, blob, qs, maximum)"))
        return NULL;
    int64_t low = PyLong_AsLongLong(args[0]), high = PyLong_AsLongLong(args[1]);
    double gamma = PyFloat_AsDouble(args[2]);
    int64_t zero_bin = PyLong_AsLongLong(args[3]);
    double most = args[6] == Py_None ? INFINITY : PyFloat_AsDouble(args[6]);
    double levels[MAX_LEVELS], values[MAX_LEVELS];
    int empty;
    Py_ssize_t nq = PyErr_Occurred() ? -1 : levels_of(args[5], levels);
    if (nq < 0 || !blob_levels(args[4], low, high, levels, nq, gamma, zero_bin, most, values,
                               &empty))
        return NULL;
    return level_list(values, nq, empty);
}

static PyMethodDef dense_methods[] = {
    {"step", (PyCFunction)dense_step, METH_O, "Add one dense-packed histogram (None: none)."},
    {"finalize", (PyCFunction)dense_finalize, METH_NOARGS,
     "The sum, packed dense (a group of one: its blob; of none: None)."},
    {"add", (PyCFunction)dense_add_method, METH_O, "Add one dense-packed histogram, checked."},
    {"histogram", (PyCFunction)dense_histogram, METH_NOARGS,
     "The sum as a {bin: count} dict (empty bins left out)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DenseSumType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "logctl.metrics._sketch.DenseSum",
    .tp_basicsize = sizeof(DenseSum),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "DenseSum(low, high): a running sum of dense-packed histograms (step, finalize).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)dense_init,
    .tp_dealloc = (destructor)dense_dealloc,
    .tp_methods = dense_methods,
};

PyDoc_STRVAR(add_dense_doc, "add_dense(low, high, a, b) -> bytes | None\n\n"
"The sum of two dense-packed histograms (None for none), packed dense: SQL's hist_add, by\n"
"which a batch adds to a stored rollup row.");

static PyObject *add_dense(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (!takes(nargs, 4, "add_dense(low, high, a, b)"))
        return NULL;
    PyObject *a = args[2], *b = args[3];
    if (a == Py_None || b == Py_None)
        return Py_NewRef(a == Py_None ? b : a);
    DenseSum *total = (DenseSum *)PyObject_CallFunctionObjArgs((PyObject *)&DenseSumType,
                                                               args[0], args[1], NULL);
    if (!total)
        return NULL;
    PyObject *result = dense_add(total, a) && dense_add(total, b)
                       ? dense_finalize(total, NULL) : NULL;
    Py_DECREF(total);
    return result;
}

/* A summary's keys, interned once. */
static PyObject *key_time, *key_requests, *key_errors, *key_client_errors, *key_error_rate,
    *key_bytes, *key_malformed, *key_latency_ms, *key_first, *key_last, *key_max, *key_mean;
static PyObject *attr_count, *attr_errors, *attr_client_errors, *attr_bytes,
    *attr_latency_count, *attr_latency_sum, *attr_latency_max, *attr_first, *attr_last,
    *attr_hist, *attr_blob, *attr_dense;

static int intern_keys(void) {
    struct { PyObject **at; const char *name; } all[] = {
        {&key_time, "t"}, {&key_requests, "requests"}, {&key_errors, "errors"},
        {&key_client_errors, "client_errors"}, {&key_error_rate, "error_rate"},
        {&key_bytes, "bytes"}, {&key_malformed, "malformed"}, {&key_latency_ms, "latency_ms"},
        {&key_first, "first"}, {&key_last, "last"}, {&key_max, "max"}, {&key_mean, "mean"},
        {&attr_count, "count"}, {&attr_errors, "errors"}, {&attr_client_errors, "client_errors"},
        {&attr_bytes, "bytes"}, {&attr_latency_count, "latency_count"},
        {&attr_latency_sum, "latency_sum"}, {&attr_latency_max, "latency_max"},
        {&attr_first, "first"}, {&attr_last, "last"}, {&attr_hist, "_hist"},
        {&attr_blob, "_blob"}, {&attr_dense, "_dense"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!(*all[i].at = PyUnicode_InternFromString(all[i].name)))
            return -1;
    return 0;
}

/* round(value, digits) by the builtin `round`; steals `value`. */
static PyObject *builtin_round(PyObject *round, PyObject *value, int digits) {
    PyObject *places = PyLong_FromLong(digits);
    PyObject *result = value && places
                       ? PyObject_CallFunctionObjArgs(round, value, places, NULL) : NULL;
    Py_XDECREF(value);
    Py_XDECREF(places);
    return result;
}

/* round(x, digits) as Python's builtin computes it (`round` is that builtin), as a new
 * float. Python rounds the exact binary value to the nearest decimal with `digits` places
 * (ties to even), then reads that decimal back. x * 10**digits carries at most half an ulp
 * of error, so rint of it is that nearest decimal unless a half lies within an ulp of it:
 * then (and for huge or odd values) the builtin decides. The quotient r / 10**digits of two
 * exact doubles is correctly rounded, as reading the decimal back is. */
static PyObject *rounded(PyObject *round, double x, int digits) {
    static const double scale[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double y = x * scale[digits];
    double fraction = y - floor(y);
    if (isfinite(y) && fabs(y) < 0x1p52
        && fabs(fraction - 0.5) > 2 * (nextafter(fabs(y), INFINITY) - fabs(y)))
        return PyFloat_FromDouble(rint(y) / scale[digits]);
    return builtin_round(round, PyFloat_FromDouble(x), digits);
}

/* A time as ISO 8601 UTC with a Z, as window.iso writes it: a whole second from 1970 to
 * 9999 here (civil date from days, Howard Hinnant's algorithm), any other by `iso`. */
static PyObject *iso_time(PyObject *iso, PyObject *time) {
    double t = PyFloat_Check(time) ? PyFloat_AS_DOUBLE(time)
               : PyLong_Check(time) ? PyLong_AsDouble(time) : -1.0;
    if (t == -1.0 && PyErr_Occurred())
        PyErr_Clear();
    if (!(t >= 0 && t < 253402300800.0 && t == floor(t)))
        return PyObject_CallOneArg(iso, time);
    long long seconds = (long long)t, days = seconds / 86400, clock = seconds % 86400;
    long long z = days + 719468, era = z / 146097, doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    long long year = yoe + era * 400 + (month <= 2);
    long long parts[] = {year / 100, year % 100, month, day, clock / 3600, clock / 60 % 60,
                         clock % 60};
    char out[] = "YYYY-MM-DDTHH:MM:SSZ";
    static const int at[] = {0, 2, 5, 8, 11, 14, 17};
    for (int i = 0; i < 7; i++) {
        out[at[i]] = (char)('0' + parts[i] / 10);
        out[at[i] + 1] = (char)('0' + parts[i] % 10);
    }
    return PyUnicode_FromStringAndSize(out, 20);
}

/* Set d[key] = value and drop the reference to value; 0 on an error. */
static int put(PyObject *d, PyObject *key, PyObject *value) {
    if (!value)
        return 0;
    int ok = PyDict_SetItem(d, key, value) == 0;
    Py_DECREF(value);
    return ok;
}


/* The latency part of a summary: each quantile rounded to 3 places (0.0 for none), the
 * maximum and the mean; NotImplemented where only Python's integers can sum the bins or
 * divide the mean. */
static PyObject *latency_summary(PyObject *const *spec, PyObject *dense_blob,
                                 PyObject *maximum, PyObject *latency_sum,
                                 PyObject *latency_count) {
    PyObject *qs = spec[4], *names = spec[5], *round = spec[6];
    Py_ssize_t n = PyTuple_GET_SIZE(qs);
    double most, total, mean;
    long long count = PyLong_Check(latency_count) ? PyLong_AsLongLong(latency_count) : -1;
    if (count <= 0 || count >= (1LL << 53) || !PyFloat_Check(maximum)
        || !PyFloat_Check(latency_sum)) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    most = PyFloat_AS_DOUBLE(maximum);
    total = PyFloat_AS_DOUBLE(latency_sum);
    mean = total / (double)count;  /* Python's float / int: the int is exact below 2**53 */
    double levels[MAX_LEVELS], found[MAX_LEVELS];
    int empty = 1;
    if (n > MAX_LEVELS || levels_of(qs, levels) < 0) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    /* no histogram (None or empty, as dense.quantiles reads them): every level None */
    if (dense_blob != Py_None && !(PyBytes_Check(dense_blob) && !PyBytes_GET_SIZE(dense_blob))
        && !blob_levels(dense_blob, PyLong_AsLongLong(spec[0]), PyLong_AsLongLong(spec[1]),
                        levels, n, PyFloat_AsDouble(spec[2]), PyLong_AsLongLong(spec[3]),
                        most, found, &empty)) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();  /* only Python's integers can sum its bins */
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *latency = PyDict_New();
    int ok = latency != NULL;
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = put(latency, PyTuple_GET_ITEM(names, i), rounded(round, empty ? 0.0 : found[i], 3));
    ok = ok && put(latency, key_max, rounded(round, most, 3))
         && put(latency, key_mean, rounded(round, mean, 3));
    if (!ok) {
        Py_XDECREF(latency);
        return NULL;
    }
    return latency;
}

/* round(errors / count, 6): exact integer division into a double below 2**53, Python's
 * own beyond. */
static PyObject *error_rate(PyObject *round, PyObject *errors, PyObject *count) {
    long long e = PyLong_AsLongLong(errors), c = PyLong_AsLongLong(count);
    if (PyErr_Occurred() || e < 0 || c <= 0 || e >= (1LL << 53) || c >= (1LL << 53)) {
        PyErr_Clear();
        return builtin_round(round, PyNumber_TrueDivide(errors, count), 6);
    }
    return rounded(round, (double)e / (double)c, 6);
}

PyDoc_STRVAR(summary_doc, "summary(spec, point, malformed, t) -> dict | NotImplemented\n\n"
"The JSON contract's fields for one merged point, as analytics.summarize writes them, with\n"
"the time `t` (epoch seconds) first unless it is None. `spec` is (low, high, gamma,\n"
"zero_bin, quantile levels, their names, round, iso), the levels and names tuples.\n"
"NotImplemented for a point whose histogram is not packed dense (or whose bins only\n"
"Python's integers can sum): the caller summarizes it in Python.");

static PyObject *summary(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (!takes(nargs, 4, "summary(spec, point, malformed, t)"))
        return NULL;
    PyObject *spec_tuple = args[0], *point = args[1], *malformed = args[2], *t = args[3];
    if (!PyTuple_Check(spec_tuple) || PyTuple_GET_SIZE(spec_tuple) != 8
        || !PyTuple_Check(PyTuple_GET_ITEM(spec_tuple, 4))
        || !PyTuple_Check(PyTuple_GET_ITEM(spec_tuple, 5))
        || PyTuple_GET_SIZE(PyTuple_GET_ITEM(spec_tuple, 4))
           != PyTuple_GET_SIZE(PyTuple_GET_ITEM(spec_tuple, 5))) {
        PyErr_SetString(PyExc_TypeError, "spec is (low, high, gamma, zero_bin, qs, names, "
                        "round, iso)");
        return NULL;
    }
    PyObject *const *spec = &PyTuple_GET_ITEM(spec_tuple, 0);
    PyObject *iso = spec[7];
    PyObject *fields[12] = {NULL};
    PyObject *const attrs[12] = {attr_count, attr_errors, attr_client_errors, attr_bytes,
                                 attr_latency_count, attr_latency_sum, attr_latency_max,
                                 attr_first, attr_last, attr_hist, attr_blob, attr_dense};
    PyObject *result = NULL, *out = NULL;
    for (int i = 0; i < 12; i++)
        if (!(fields[i] = PyObject_GetAttr(point, attrs[i])))
            goto done;
    if (fields[9] != Py_None || fields[10] != Py_None) {
        result = Py_NewRef(Py_NotImplemented);
        goto done;
    }
    PyObject *count = fields[0], *errors = fields[1], *latency_count = fields[4];
    int has_latency = PyObject_IsTrue(latency_count), has_count = PyObject_IsTrue(count);
    if (has_latency < 0 || has_count < 0)
        goto done;
    PyObject *latency = has_latency
        ? latency_summary(spec, fields[11], fields[6], fields[5], latency_count)
        : Py_NewRef(Py_None);
    if (!latency)
        goto done;
    if (latency == Py_NotImplemented) {
        result = latency;
        goto done;
    }
    out = PyDict_New();
    int ok = out != NULL;
    if (ok && t != Py_None)
        ok = put(out, key_time, iso_time(iso, t));
    ok = ok && PyDict_SetItem(out, key_requests, count) == 0
         && PyDict_SetItem(out, key_errors, errors) == 0
         && PyDict_SetItem(out, key_client_errors, fields[2]) == 0
         && put(out, key_error_rate, has_count ? error_rate(spec[6], errors, count)
                                               : PyFloat_FromDouble(0.0))
         && PyDict_SetItem(out, key_bytes, fields[3]) == 0
         && PyDict_SetItem(out, key_malformed, malformed) == 0
         && PyDict_SetItem(out, key_latency_ms, latency) == 0
         && put(out, key_first, has_count ? iso_time(iso, fields[7]) : Py_NewRef(Py_None))
         && put(out, key_last, has_count ? iso_time(iso, fields[8]) : Py_NewRef(Py_None));
    Py_DECREF(latency);
    if (ok) {
        result = out;
        out = NULL;
    }
done:
    Py_XDECREF(out);
    for (int i = 0; i < 12; i++)
        Py_XDECREF(fields[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"merge", merge, METH_VARARGS, merge_doc},
    {"check", check_blob, METH_O, check_doc},
    {"pack_concat", (PyCFunction)(void (*)(void))pack_concat, METH_FASTCALL, pack_concat_doc},
    {"copy_rollup_lines", copy_rollup_lines, METH_VARARGS, copy_rollup_lines_doc},
    {"rollups", rollups, METH_VARARGS, rollups_doc},
    {"sums", sums, METH_VARARGS, sums_doc},
    {"add_dense", (PyCFunction)(void (*)(void))add_dense, METH_FASTCALL, add_dense_doc},
    {"summary", (PyCFunction)(void (*)(void))summary, METH_FASTCALL, summary_doc},
    {"quantiles_dense", (PyCFunction)(void (*)(void))quantiles_dense, METH_FASTCALL,
     quantiles_dense_doc},
    {"compact", compact, METH_O, compact_doc},
    {"expand", expand, METH_VARARGS, expand_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sketch", "Packed histogram merges (see logctl.metrics.sketch and dense).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sketch(void) {
    if (PyType_Ready(&DenseSumType) < 0 || intern_keys() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&DenseSumType);
    if (PyModule_AddObject(m, "DenseSum", (PyObject *)&DenseSumType) < 0) {
        Py_DECREF(&DenseSumType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
