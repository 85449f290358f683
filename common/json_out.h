/*
 * json_out: compact JSON text of a jansson value, the same bytes as
 * json_dumps(v, JSON_COMPACT) (keys in insertion order, no whitespace,
 * strings escaped as jansson does) but several times faster on the long
 * strings a story's ninjs holds: jansson decodes every character of a string
 * before copying it; here runs that need no escape are copied whole.
 */
#ifndef NW_JSON_OUT_H
#define NW_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

/* The text (caller frees) and its length; NULL when v is NULL or out of
 * memory. */
char *nw_json_compact(const json_t *v, size_t *len);

#endif
