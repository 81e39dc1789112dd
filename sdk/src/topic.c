/*
 * topic.c - build and parse the topics of DESIGN.md §4 (include/corio/topic.h).
 */
#include <string.h>

#include "corio/topic.h"

#define PREFIX "corio/v1/"
#define PREFIX_LEN 9

/* The suffixes in the order of enum corio_topic_kind, one after the other: one string
 * instead of a table of pointers. */
static const char suffixes[] = "up/json\0up/cbor\0up/evt\0up/hb\0up/res\0up/cfg\0up/ota\0"
                               "dn/cmd\0dn/cfg\0dn/ota\0dn/time\0batch\0ack\0down\0state\0"
                               "dn/resend";

static const char *suffix_of(int kind)
{
    const char *p = suffixes;
    while (kind-- > 0)
        p += strlen(p) + 1;
    return p;
}

bool corio_short_id_valid(const char *s, size_t n)
{
    if (!s || n != CORIO_SHORT_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            return false;
    return true;
}

bool corio_topic_is_device(enum corio_topic_kind kind)
{
    return kind <= CORIO_TOPIC_DN_TIME || kind == CORIO_TOPIC_DN_RESEND;
}

const char *corio_topic_suffix(enum corio_topic_kind kind)
{
    if ((unsigned)kind >= CORIO_TOPIC_COUNT)
        return NULL;
    return suffix_of(kind);
}

/* The kind whose suffix is s[0..n) among the device or the gateway kinds. */
static int find_suffix(const char *s, size_t n, bool device)
{
    for (int k = 0; k < CORIO_TOPIC_COUNT; k++) {
        if (corio_topic_is_device((enum corio_topic_kind)k) != device)
            continue;
        const char *x = suffix_of(k);
        if (strlen(x) == n && memcmp(x, s, n) == 0)
            return k;
    }
    return CORIO_ERR_NOTFOUND;
}

int corio_topic_suffix_kind(const char *s, size_t n)
{
    return find_suffix(s, n, true);
}

int corio_topic_build(enum corio_topic_kind kind, const char *id, char *out, size_t cap)
{
    if ((unsigned)kind >= CORIO_TOPIC_COUNT)
        return CORIO_ERR_INVAL;
    size_t id_len = id ? strlen(id) : 1;
    if (id && !corio_short_id_valid(id, id_len))
        return CORIO_ERR_INVAL;
    const char *suffix = suffix_of(kind);
    size_t sn = strlen(suffix);
    /* PREFIX "d/" or "g/", the id or '+', '/', the suffix. */
    size_t total = PREFIX_LEN + 2 + id_len + 1 + sn;
    if (total >= cap)
        return CORIO_ERR_NOSPACE;
    memcpy(out, PREFIX "d/", PREFIX_LEN + 2);
    if (!corio_topic_is_device(kind))
        out[PREFIX_LEN] = 'g';
    memcpy(out + PREFIX_LEN + 2, id ? id : "+", id_len);
    out[PREFIX_LEN + 2 + id_len] = '/';
    memcpy(out + PREFIX_LEN + 3 + id_len, suffix, sn + 1);
    return (int)total;
}

/* Parses "d/{id}/<suffix>" or "g/{gw}/<suffix>" (gateway only when allow_g). */
static int parse_rest(const char *s, size_t len, bool allow_g, struct corio_topic *t)
{
    if (len < 2 + CORIO_SHORT_ID_LEN + 1 || s[1] != '/')
        return CORIO_ERR_MALFORMED;
    bool device;
    if (s[0] == 'd')
        device = true;
    else if (s[0] == 'g' && allow_g)
        device = false;
    else
        return CORIO_ERR_MALFORMED;
    const char *id = s + 2;
    if (!corio_short_id_valid(id, CORIO_SHORT_ID_LEN) || id[CORIO_SHORT_ID_LEN] != '/')
        return CORIO_ERR_MALFORMED;
    const char *suffix = id + CORIO_SHORT_ID_LEN + 1;
    int k = find_suffix(suffix, len - (size_t)(suffix - s), device);
    if (k < 0)
        return k;
    t->kind = (enum corio_topic_kind)k;
    memcpy(t->id, id, CORIO_SHORT_ID_LEN);
    t->id[CORIO_SHORT_ID_LEN] = '\0';
    return CORIO_OK;
}

int corio_topic_parse(const char *topic, size_t len, struct corio_topic *t)
{
    if (!topic || len < PREFIX_LEN || memcmp(topic, PREFIX, PREFIX_LEN) != 0)
        return CORIO_ERR_MALFORMED;
    return parse_rest(topic + PREFIX_LEN, len - PREFIX_LEN, true, t);
}

int corio_topic_parse_path(const char *path, size_t len, struct corio_topic *t)
{
    if (!path)
        return CORIO_ERR_MALFORMED;
    return parse_rest(path, len, false, t);
}
