/* Varints (LEB128) and compact latency histograms (sketch.compact: (zigzag bin, count)
 * varint pairs), read and written alike by the native modules that store them. A blob that
 * does not read as one raises ValueError in the words sketch's Python paths use. */
#ifndef LOGCTL_VARINT_H
#define LOGCTL_VARINT_H

#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

#define VARINT_MAX 10

static inline int corrupt(const char *why) {
    PyErr_Format(PyExc_ValueError, "corrupted latency histogram: %s", why);
    return 0;
}

/* Read one varint at *p (below end) into *out, advancing *p; 0 if it is cut short or
 * longer than 64 bits. */
static inline int read_varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char c = *(*p)++;
        if (shift == 63 && c > 1)
            return 0;
        value |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = value;
            return 1;
        }
    }
    return 0;
}

/* A varint that must be a count (0 .. INT64_MAX). */
static inline int read_count(const unsigned char **p, const unsigned char *end, int64_t *out) {
    uint64_t value;
    if (!read_varint(p, end, &value))
        return corrupt("it ends inside a number");
    if (value > INT64_MAX)
        return corrupt("a count is out of range");
    *out = (int64_t)value;
    return 1;
}

static inline unsigned char *write_varint(unsigned char *out, uint64_t value) {
    while (value >= 0x80) {
        *out++ = (unsigned char)(value | 0x80);
        value >>= 7;
    }
    *out++ = (unsigned char)value;
    return out;
}

static inline uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static inline int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* The int32 pairs of compact varint pairs (malloc'ed, *n of them; NULL with an error
 * set); with `ascending`, bins must rise (one histogram), without it pairs may repeat bins
 * (blobs written back to back). */
static inline int32_t *expand_pairs(const unsigned char *p, size_t len, int ascending,
                             Py_ssize_t *n) {
    int32_t *pairs = malloc(len * 4 + 8); /* each pair takes two bytes at least */
    if (!pairs)
        return PyErr_NoMemory(), NULL;
    const unsigned char *end = p + len;
    const char *why = NULL;
    *n = 0;
    while (p < end && !why) {
        uint64_t zig, count;
        if (!read_varint(&p, end, &zig) || !read_varint(&p, end, &count)) {
            why = "it ends inside a number";
            break;
        }
        int64_t bin = unzigzag(zig);
        if (bin < INT32_MIN || bin > INT32_MAX || count < 1 || count > INT32_MAX)
            why = "a bin or a count is out of range";
        else if (ascending && *n && bin <= pairs[2 * *n - 2])
            why = "its bins are not ascending";
        else {
            pairs[2 * *n] = (int32_t)bin;
            pairs[2 * (*n)++ + 1] = (int32_t)count;
        }
    }
    if (why) {
        free(pairs);
        return corrupt(why), NULL;
    }
    return pairs;
}

#endif
