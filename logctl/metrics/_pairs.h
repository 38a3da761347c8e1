/* What a packed latency histogram is (sketch.encode's int32 (bin, count) pairs), checked
 * alike by the native modules that take one from elsewhere: whole pairs, counts >= 1 and,
 * for one histogram, bins ascending; and the merge of two such histograms. ValueError in the words sketch's Python paths use.
 * Pairs are read with memcpy: a histogram joined to others keeps no alignment. */
#ifndef LOGCTL_PAIRS_H
#define LOGCTL_PAIRS_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline int whole_pairs(Py_ssize_t size) {
    if (size % 8) {
        PyErr_SetString(PyExc_ValueError,
                        "corrupted latency histogram: not a whole number of pairs");
        return 0;
    }
    return 1;
}

/* Every count of n pairs positive, and with `ascending` every bin above the one before. */
static inline int check_pairs(const void *pairs, Py_ssize_t n, int ascending) {
    int32_t last = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t pair[2];
        memcpy(pair, (const char *)pairs + 8 * i, 8);
        if (pair[1] <= 0) {
            PyErr_SetString(PyExc_ValueError, "corrupted latency histogram: a count is below 1");
            return 0;
        }
        if (ascending && i && pair[0] <= last) {
            PyErr_SetString(PyExc_ValueError,
                            "corrupted latency histogram: its bins are not ascending");
            return 0;
        }
        last = pair[0];
    }
    return 1;
}

/* Merge a (na pairs) and b (nb pairs) into out; returns pairs written, -1 on overflow. */
static inline Py_ssize_t merge_pairs(const int32_t *a, Py_ssize_t na, const int32_t *b,
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

#endif
