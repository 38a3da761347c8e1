/* The native grouping of the columnar engines (logctl.metrics.columnar.group_points):
 * the accepted lines of a chunk, as polars columns, summed into one group tuple per point
 * key, as the native CLF scanner makes them.
 *
 * polars finds which lines share a key (`first`: the row of each line's first line of the
 * same key) and hands over that first line's key; the columns are read in place through
 * the Arrow C stream interface (`__arrow_c_stream__`), with no Python object per value.
 * Grouping a sparse chunk's lines in polars (list aggregations for the histogram bins, then
 * a tuple per group in Python) cost a third of a JSON chunk's time. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_tuple.h"

/* The Arrow C data and stream interfaces (https://arrow.apache.org/docs/format/). */
struct ArrowSchema {
    const char *format, *name, *metadata;
    int64_t flags, n_children;
    struct ArrowSchema **children, *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children, *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};

/* One column in place: its values and validity bitmap (NULL: no nulls), kept alive by the
 * array it came from until `release_column`. */
typedef struct {
    PyObject *capsule;
    struct ArrowArray array;
    const void *values;
    const uint8_t *validity;
    int64_t offset, length;
    char format;
} Column;

static void release_column(Column *column) {
    if (column->array.release)
        column->array.release(&column->array);
    column->array.release = NULL;
    Py_CLEAR(column->capsule);
}

/* Read a polars Series of one chunk and one of the `formats` (Arrow format characters) into
 * `column`; -1 with an error set otherwise. */
static int read_column(PyObject *series, const char *name, const char *formats,
                       Column *column) {
    memset(column, 0, sizeof *column);
    column->capsule = PyObject_CallMethod(series, "__arrow_c_stream__", NULL);
    if (!column->capsule)
        return -1;
    struct ArrowArrayStream *stream = PyCapsule_GetPointer(column->capsule,
                                                           "arrow_array_stream");
    if (!stream)
        return -1;
    struct ArrowSchema schema = {0};
    if (stream->get_schema(stream, &schema) != 0) {
        PyErr_Format(PyExc_ValueError, "column %s: no schema", name);
        return -1;
    }
    column->format = schema.format && schema.format[1] == '\0' ? schema.format[0] : '?';
    schema.release(&schema);
    if (!strchr(formats, column->format)) {
        PyErr_Format(PyExc_TypeError, "column %s: Arrow format '%c' is not one of '%s'",
                     name, column->format, formats);
        return -1;
    }
    if (stream->get_next(stream, &column->array) != 0 || !column->array.release) {
        PyErr_Format(PyExc_ValueError, "column %s: no array", name);
        return -1;
    }
    struct ArrowArray more = {0};
    if (stream->get_next(stream, &more) != 0 || more.release) {
        if (more.release)
            more.release(&more);
        PyErr_Format(PyExc_ValueError, "column %s: more than one chunk (rechunk it)", name);
        return -1;
    }
    column->values = column->array.buffers[1];
    column->validity = column->array.null_count ? column->array.buffers[0] : NULL;
    column->offset = column->array.offset;
    column->length = column->array.length;
    return 0;
}

static inline int valid(const Column *c, int64_t i) {
    int64_t at = c->offset + i;
    return !c->validity || (c->validity[at >> 3] >> (at & 7)) & 1;
}

static inline int64_t integer(const Column *c, int64_t i) {
    int64_t at = c->offset + i;
    switch (c->format) {
    case 'C': return ((const uint8_t *)c->values)[at];
    case 'i': return ((const int32_t *)c->values)[at];
    case 'I': return ((const uint32_t *)c->values)[at];
    default: return ((const int64_t *)c->values)[at];
    }
}

static inline double real(const Column *c, int64_t i) {
    int64_t at = c->offset + i;
    return c->format == 'g' ? ((const double *)c->values)[at]
                            : (double)((const int64_t *)c->values)[at];
}

typedef struct {
    int64_t count, errors, client_errors, bytes, lat_count, bins;
    double lat_sum, lat_max, first, last;
} Sums;

enum { FIRST, ERROR, CLIENT_ERROR, SIZE, RT_MS, BIN, TS, NCOLUMNS };
static const char *const NAMES[NCOLUMNS] = {"first", "error", "client_error", "size",
                                            "rt_ms", "bin", "ts"};
static const char *const FORMATS[NCOLUMNS] = {"I", "C", "C", "l", "g", "i", "lg"};

static void sort_ints(int32_t *v, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        int32_t item = v[i];
        int64_t j = i;
        for (; j > 0 && v[j - 1] > item; j--)
            v[j] = v[j - 1];
        v[j] = item;
    }
}

static int by_int(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* A group's bins (sorted here) as the (bin, count) int32 pairs of sketch.encode, or None. */
static PyObject *histogram(int32_t *bins, int64_t n) {
    if (!n)
        return Py_NewRef(Py_None);
    if (n > 32)
        qsort(bins, (size_t)n, sizeof *bins, by_int);
    else
        sort_ints(bins, n);
    int64_t distinct = 1;
    for (int64_t i = 1; i < n; i++)
        distinct += bins[i] != bins[i - 1];
    PyObject *blob = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)distinct * 8);
    if (!blob)
        return NULL;
    int32_t *out = (int32_t *)PyBytes_AS_STRING(blob);
    int64_t at = -1;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || bins[i] != bins[i - 1]) {
            at++;
            out[2 * at] = bins[i];
            out[2 * at + 1] = 0;
        }
        out[2 * at + 1]++;
    }
    return blob;
}

static PyObject *time_value(double value, int whole) {
    return whole ? PyLong_FromLongLong((long long)value) : PyFloat_FromDouble(value);
}

/* The group tuple of one key (minute, host, method, route_pre, status) and its sums. */
static PyObject *group_tuple(PyObject *key, const Sums *s, PyObject *hist, int whole) {
    if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 5) {
        Py_XDECREF(hist);
        PyErr_SetString(PyExc_TypeError, "a key is a (minute, host, method, route, status)");
        return NULL;
    }
    PyObject *counters[9] = {
        PyLong_FromLongLong(s->count), PyLong_FromLongLong(s->errors),
        PyLong_FromLongLong(s->client_errors), PyLong_FromLongLong(s->bytes),
        PyLong_FromLongLong(s->lat_count), PyFloat_FromDouble(s->lat_sum),
        PyFloat_FromDouble(s->lat_max), time_value(s->first, whole),
        time_value(s->last, whole)};
    PyObject *items[7];
    for (int k = 0; k < 5; k++)
        items[k] = Py_NewRef(PyTuple_GET_ITEM(key, k));
    items[5] = tuple_of(counters, 9);
    items[6] = hist;
    return tuple_of(items, 7);
}

/* Sum each line into its group (numbered by first line, in the order of `keys`). */
static int64_t *sum_lines(const Column *c, int64_t n, Sums *sums, int64_t ngroups) {
    int64_t *group_of = malloc((size_t)(n ? n : 1) * sizeof *group_of);
    if (!group_of) {
        PyErr_NoMemory();
        return NULL;
    }
    int64_t next = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t first = integer(&c[FIRST], i);
        if (first < 0 || first > i || (first == i && next >= ngroups)) {
            free(group_of);
            PyErr_SetString(PyExc_ValueError, "first rows do not match the keys");
            return NULL;
        }
        int64_t g = group_of[i] = first == i ? next++ : group_of[first];
        Sums *s = &sums[g];
        double ts = real(&c[TS], i);
        if (!s->count || ts < s->first)
            s->first = ts;
        if (!s->count || ts > s->last)
            s->last = ts;
        s->count++;
        s->errors += integer(&c[ERROR], i);
        s->client_errors += integer(&c[CLIENT_ERROR], i);
        s->bytes += integer(&c[SIZE], i);
        if (valid(&c[RT_MS], i)) {
            double ms = real(&c[RT_MS], i);
            s->lat_count++;
            s->lat_sum += ms;
            if (s->lat_count == 1 || ms > s->lat_max)
                s->lat_max = ms;
        }
        s->bins += valid(&c[BIN], i);
    }
    if (next != ngroups) {
        free(group_of);
        PyErr_SetString(PyExc_ValueError, "first rows do not match the keys");
        return NULL;
    }
    return group_of;
}

/* The lines' bins gathered by group (a counting sort), `start[g]` where group g's begin. */
static int32_t *bins_by_group(const Column *c, int64_t n, const int64_t *group_of,
                              const Sums *sums, int64_t ngroups, int64_t *start) {
    int64_t total = 0;
    for (int64_t g = 0; g < ngroups; g++) {
        start[g] = total;
        total += sums[g].bins;
    }
    int32_t *bins = malloc((size_t)(total ? total : 1) * sizeof *bins);
    int64_t *fill = malloc((size_t)(ngroups ? ngroups : 1) * sizeof *fill);
    if (!bins || !fill) {
        free(bins);
        free(fill);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(fill, start, (size_t)ngroups * sizeof *fill);
    for (int64_t i = 0; i < n; i++)
        if (valid(&c[BIN], i))
            bins[fill[group_of[i]]++] = (int32_t)integer(&c[BIN], i);
    free(fill);
    return bins;
}

static PyObject *build(const Column *c, int64_t n, PyObject *keys) {
    int64_t ngroups = PyList_GET_SIZE(keys);
    Sums *sums = calloc((size_t)(ngroups ? ngroups : 1), sizeof *sums);
    int64_t *start = malloc((size_t)(ngroups ? ngroups : 1) * sizeof *start);
    int64_t *group_of = NULL;
    int32_t *bins = NULL;
    PyObject *list = NULL;
    if (!sums || !start) {
        PyErr_NoMemory();
        goto done;
    }
    group_of = sum_lines(c, n, sums, ngroups);
    if (!group_of)
        goto done;
    bins = bins_by_group(c, n, group_of, sums, ngroups, start);
    if (!bins)
        goto done;
    list = PyList_New((Py_ssize_t)ngroups);
    int whole = c[TS].format == 'l';
    for (int64_t g = 0; list && g < ngroups; g++) {
        PyObject *hist = histogram(bins + start[g], sums[g].bins);
        PyObject *item = hist ? group_tuple(PyList_GET_ITEM(keys, g), &sums[g], hist, whole)
                              : NULL;
        if (!item)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, g, item);
    }
done:
    free(sums);
    free(start);
    free(group_of);
    free(bins);
    return list;
}

static PyObject *group(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *keys, *series[NCOLUMNS];
    if (!PyArg_ParseTuple(args, "O!OOOOOOO", &PyList_Type, &keys, &series[FIRST],
                          &series[ERROR], &series[CLIENT_ERROR], &series[SIZE],
                          &series[RT_MS], &series[BIN], &series[TS]))
        return NULL;
    Column columns[NCOLUMNS] = {0};
    PyObject *result = NULL;
    int64_t n = -1;
    for (int k = 0; k < NCOLUMNS; k++) {
        if (read_column(series[k], NAMES[k], FORMATS[k], &columns[k]) < 0)
            goto done;
        if (n >= 0 && columns[k].length != n) {
            PyErr_Format(PyExc_ValueError, "column %s: %lld rows, not %lld", NAMES[k],
                         (long long)columns[k].length, (long long)n);
            goto done;
        }
        n = columns[k].length;
        if (k != RT_MS && k != BIN && columns[k].validity) {
            PyErr_Format(PyExc_ValueError, "column %s holds nulls", NAMES[k]);
            goto done;
        }
    }
    result = build(columns, n, keys);
done:
    for (int k = 0; k < NCOLUMNS; k++)
        release_column(&columns[k]);
    return result;
}

PyDoc_STRVAR(group_doc,
"group(keys, first, error, client_error, size, rt_ms, bin, ts) -> list of groups\n\n"
"The group tuples (minute, host, method, route_pre, status, counters, hist) of a chunk's\n"
"accepted lines, one per key. Columns are polars Series of one chunk: `first` (UInt32)\n"
"is the row of each line's first line of the same key, and `keys` holds the key of\n"
"each first row, in row order; error and client_error UInt8, size Int64, rt_ms Float64\n"
"(null without a latency), bin Int32 (its histogram bin, null without), ts Int64 or\n"
"Float64 (the line's time, which first and last keep as they are).");

static PyMethodDef methods[] = {
    {"group", group, METH_VARARGS, group_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_groups",
    "The columnar engines' native grouping (see logctl.metrics.columnar).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__groups(void) {
    return PyModule_Create(&module);
}
