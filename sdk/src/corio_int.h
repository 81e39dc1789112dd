/*
 * corio_int.h - private helpers that several modules of sdk/src share (not public):
 * one UTF-8 validator for the JSON, CBOR, MQTT, SenML and EAT code, so a device
 * carries one copy.
 */
#ifndef CORIO_INT_H
#define CORIO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the valid UTF-8 sequence at p[0..avail), or 0 if p does not
 * start one (RFC 3629: overlong forms, surrogates and code points above U+10FFFF
 * refused). avail must be at least 1. */
size_t corio__utf8_seq(const uint8_t *p, size_t avail);

/* True when s[0..n) is valid UTF-8 (RFC 3629); s may be NULL when n is 0. */
bool corio__utf8_ok(const void *s, size_t n);

#endif /* CORIO_INT_H */
