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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int check(const Py_buffer *b) {
    if (b->len % 8) {
        PyErr_SetString(PyExc_ValueError, "corrupted latency histogram: not a whole number of pairs");
        return 0;
    }
    return 1;
}

/* Every count positive, and with `ascending` every bin above the one before. */
static int check_pairs(const int32_t *pairs, Py_ssize_t n, int ascending) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (pairs[2 * i + 1] <= 0) {
            PyErr_SetString(PyExc_ValueError, "corrupted latency histogram: a count is below 1");
            return 0;
        }
        if (ascending && i && pairs[2 * i] <= pairs[2 * i - 2]) {
            PyErr_SetString(PyExc_ValueError, "corrupted latency histogram: its bins are not ascending");
            return 0;
        }
    }
    return 1;
}

/* Merge a (na pairs) and b (nb pairs) into out; returns pairs written, -1 on overflow. */
static Py_ssize_t merge_pairs(const int32_t *a, Py_ssize_t na, const int32_t *b,
                              Py_ssize_t nb, int32_t *out) {
    Py_ssize_t i = 0, j = 0, o = 0;
    while (i < na || j < nb) {
        if (j >= nb || (i < na && a[2 * i] < b[2 * j])) {
            out[2 * o] = a[2 * i];
            out[2 * o++ + 1] = a[2 * i + 1];
            i++;
        } else if (i >= na || b[2 * j] < a[2 * i]) {
            out[2 * o] = b[2 * j];
            out[2 * o++ + 1] = b[2 * j + 1];
            j++;
        } else {
            int32_t sum;
            if (__builtin_add_overflow(a[2 * i + 1], b[2 * j + 1], &sum))
                return -1;
            out[2 * o] = a[2 * i];
            out[2 * o++ + 1] = sum;
            i++;
            j++;
        }
    }
    return o;
}

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
    if (check(&x) && check(&y) && check_pairs(x.buf, x.len / 8, 1) &&
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
    int ok = check(&b) && check_pairs(b.buf, b.len / 8, 1);
    PyBuffer_Release(&b);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* Dense packing (see metrics/dense.py): int64 lowest bin, int64 number of fields, one int64
 * count per bin from the lowest, then the bins outside [low, high] as int64 (bin, count)
 * pairs, ascending. */
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
    if (!fields)
        first = 0;
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
    qsort(odd, (size_t)o, 16, by_bin);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < o; i++) {
        if (kept && odd[2 * (kept - 1)] == odd[2 * i]) {
            if (!add64(&odd[2 * (kept - 1) + 1], odd[2 * i + 1]))
                goto done;
        } else {
            odd[2 * kept] = odd[2 * i];
            odd[2 * kept++ + 1] = odd[2 * i + 1];
        }
    }
    result = PyBytes_FromStringAndSize(NULL, 16 + 8 * (fields + 2 * kept));
    if (result) {
        char *out = PyBytes_AS_STRING(result);
        memcpy(out, &first, 8);
        memcpy(out + 8, &fields, 8);
        memcpy(out + 16, sums, (size_t)(fields + 2 * kept) * 8);
    }
done:
    free(sums);
    return result;
}

PyDoc_STRVAR(pack_concat_doc, "pack_concat(packed, low, high) -> bytes\n\n"
"Sum packed histograms written back to back (None or empty for none) and pack the sum\n"
"dense, with bins outside [low, high] as sparse pairs; int64 counts.");

static PyObject *pack_concat(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *packed;
    long long low, high;
    if (!PyArg_ParseTuple(args, "OLL", &packed, &low, &high))
        return NULL;
    if (packed == Py_None)
        return pack_pairs(NULL, 0, low, high);
    Py_buffer b;
    if (PyObject_GetBuffer(packed, &b, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = check(&b) && check_pairs(b.buf, b.len / 8, 0)
                           ? pack_pairs(b.buf, b.len / 8, low, high) : NULL;
    PyBuffer_Release(&b);
    return result;
}

/* DenseSum: the SQL aggregate that sums a group of dense-packed histograms (the rollups'
 * hist_sum_agg), with step and finalize in C so a query's thousands of rows cost no Python
 * frame each. Built with the dense bounds (low, high); a group of one row gives its blob
 * back untouched. Refuses what dense.DenseSum.add refuses, with ValueError. */
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

static int dense_init(DenseSum *self, PyObject *args, PyObject *kwds) {
    (void)kwds;
    long long low, high;
    if (!PyArg_ParseTuple(args, "LL", &low, &high))
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

static int corrupt(const char *why) {
    PyErr_Format(PyExc_ValueError, "corrupted latency histogram: %s", why);
    return 0;
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

static int dense_add(DenseSum *self, PyObject *blob) {
    Py_buffer b;
    if (PyObject_GetBuffer(blob, &b, PyBUF_SIMPLE) < 0)
        return 0;
    int ok = 0;
    const char *data = b.buf;
    int64_t first, fields;
    if (b.len < 16) {
        corrupt("it is shorter than its header");
        goto done;
    }
    memcpy(&first, data, 8);
    memcpy(&fields, data + 8, 8);
    if (fields < 0 || fields > (b.len - 16) / 8
        || (fields && (first < self->low || first > self->high - fields + 1))) {
        corrupt("its header does not match its length");
        goto done;
    }
    Py_ssize_t end = 16 + 8 * (Py_ssize_t)fields;
    if ((b.len - end) % 16) {
        corrupt("not a whole number of pairs");
        goto done;
    }
    if (fields) {
        if (!cover(self, first, fields))
            goto done;
        const int64_t *counts = (const int64_t *)(data + 16);
        int64_t *into = self->sums + (first - self->base);
        for (int64_t i = 0; i < fields; i++) {
            int64_t n;
            memcpy(&n, counts + i, 8);
            if (n < 0) {
                corrupt("a count is below 0");
                goto done;
            }
            if (!add64(&into[i], n))
                goto done;
        }
    }
    Py_ssize_t pairs = (b.len - end) / 16;
    if (pairs) {
        if (self->nodd + pairs > self->capodd) {
            Py_ssize_t cap = (self->nodd + pairs) * 2;
            int64_t *grown = realloc(self->odd, (size_t)cap * 16);
            if (!grown) {
                PyErr_NoMemory();
                goto done;
            }
            self->odd = grown;
            self->capodd = cap;
        }
        memcpy(self->odd + 2 * self->nodd, data + end, (size_t)pairs * 16);
        for (Py_ssize_t i = 0; i < pairs; i++) {
            if (self->odd[2 * (self->nodd + i) + 1] < 1) {
                corrupt("a count is below 1");
                goto done;
            }
        }
        self->nodd += pairs;
    }
    self->added = 1;
    ok = 1;
done:
    PyBuffer_Release(&b);
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
    if (self->only) {
        PyObject *only = self->only;
        self->only = NULL;
        int ok = dense_add(self, only);
        Py_DECREF(only);
        if (!ok)
            return NULL;
    }
    if (!dense_add(self, blob))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *dense_finalize(DenseSum *self, PyObject *unused) {
    (void)unused;
    if (self->only) {
        Py_INCREF(self->only);
        return self->only;
    }
    if (!self->added)
        Py_RETURN_NONE;
    Py_ssize_t lo = 0, hi = self->size;
    while (lo < hi && !self->sums[lo])
        lo++;
    while (hi > lo && !self->sums[hi - 1])
        hi--;
    int64_t first = hi > lo ? self->base + lo : 0, fields = hi - lo;
    qsort(self->odd, (size_t)self->nodd, 16, by_bin);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < self->nodd; i++) {
        if (kept && self->odd[2 * (kept - 1)] == self->odd[2 * i]) {
            if (!add64(&self->odd[2 * (kept - 1) + 1], self->odd[2 * i + 1]))
                return NULL;
        } else {
            self->odd[2 * kept] = self->odd[2 * i];
            self->odd[2 * kept++ + 1] = self->odd[2 * i + 1];
        }
    }
    self->nodd = kept;
    PyObject *result = PyBytes_FromStringAndSize(NULL, 16 + 8 * (fields + 2 * kept));
    if (!result)
        return NULL;
    char *out = PyBytes_AS_STRING(result);
    memcpy(out, &first, 8);
    memcpy(out + 8, &fields, 8);
    if (fields)
        memcpy(out + 16, self->sums + lo, (size_t)fields * 8);
    if (kept)
        memcpy(out + 16 + 8 * fields, self->odd, (size_t)kept * 16);
    return result;
}

static PyMethodDef dense_methods[] = {
    {"step", (PyCFunction)dense_step, METH_O, "Add one dense-packed histogram (None: none)."},
    {"finalize", (PyCFunction)dense_finalize, METH_NOARGS, "The sum, packed dense."},
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

static PyMethodDef methods[] = {
    {"merge", merge, METH_VARARGS, merge_doc},
    {"check", check_blob, METH_O, check_doc},
    {"pack_concat", pack_concat, METH_VARARGS, pack_concat_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_sketch", "Packed histogram merges (see logctl.metrics.sketch and dense).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__sketch(void) {
    if (PyType_Ready(&DenseSumType) < 0)
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
