/* Private seam between the key table (config_keys.c: every key, its default, its checks, the
 * messages that name keys) and the readers of text (config_ini.c: the experiment file and --set).
 * A key is its index in the table. Not installed, not part of the public API. */
#ifndef DPTRAIN_CONFIG_KEYS_H
#define DPTRAIN_CONFIG_KEYS_H

#include <stddef.h>

#include "dptrain/config.h"

/* The longest value text a key takes (and line the reader holds); how much of a value a
 * message quotes. */
enum { DPT_CFG_RAW_MAX = 4096, DPT_CFG_VALUE_SHOWN = 80 };

/* 1 if s is a section of the table. */
int dpt_cfgkey_is_section(const char *s);

/* Index of key sec.key, or -1. */
int dpt_cfgkey_find(const char *sec, const char *key);

/* Index of the key nearest to key (preferring section sec on ties; aliases count), or -1 if
 * none is close enough to suggest. */
int dpt_cfgkey_nearest(const char *sec, const char *key);

/* Sets key i of c from text v; on a bad value leaves c untouched and says why in why[n]. */
int dpt_cfgkey_set(dpt_config *c, int i, const char *v, char *why, size_t n);

/* The refusal of an unknown section, with the nearest one or the list of all. */
void dpt_cfgkey_unknown_section(char *out, size_t n, const char *sec);

/* The refusal of an unknown key sec.key, with the nearest one or the section's keys. */
void dpt_cfgkey_unknown_key(char *out, size_t n, const char *sec, const char *key);

/* The refusal of a key written before any [section] line, saying where it belongs. */
void dpt_cfgkey_sectionless(char *out, size_t n, const char *key);

#endif
