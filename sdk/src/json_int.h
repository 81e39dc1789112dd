/*
 * json_int.h - declarations shared between the SDK's JSON and SenML files, not
 * part of the public API.
 */
#ifndef CORIO_JSON_INT_H
#define CORIO_JSON_INT_H

#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the valid UTF-8 sequence at p[0..avail), or 0 if p does not
 * start one (overlong forms, surrogates and code points above U+10FFFF refused). */
size_t corio__utf8_seq(const uint8_t *p, size_t avail);

#endif /* CORIO_JSON_INT_H */
