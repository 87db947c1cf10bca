/* flow_core.c - the till flow over journal + vipps + documents + drivers:
 * open/close, per-reference locks and the helpers every file uses (see
 * flow_int.h for the map of files and the locking rules).
 */
#include "src/flow/flow_int.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* ---------------------------------------------------------------- */

const char *kv_flow_strerror(kv_flow_status st)
{
    switch (st) {
    case KV_FLOW_OK: return "ok";
    case KV_FLOW_E_INPUT: return "bad input";
    case KV_FLOW_E_CONFIG: return "configuration problem";
    case KV_FLOW_E_PRINTER: return "printer failure before the QR code was shown";
    case KV_FLOW_E_SERVICE: return "payment service unreachable";
    case KV_FLOW_E_UNKNOWN: return "outcome unknown (journaled; run kvitt recover)";
    case KV_FLOW_E_NOT_PAID: return "not paid";
    case KV_FLOW_E_NOT_FOUND: return "no such payment in the journal";
    case KV_FLOW_E_JOURNAL: return "the journal cannot be written";
    case KV_FLOW_E_REFUSED: return "operation refused";
    case KV_FLOW_E_NOMEM: return "out of memory";
    case KV_FLOW_E_BUSY: return "another operation is running on this payment";
    }
    return "unknown flow status";
}

int kv_flow_exit_code(kv_flow_status st)
{
    switch (st) {
    case KV_FLOW_OK: return 0;
    case KV_FLOW_E_NOT_PAID: case KV_FLOW_E_REFUSED: case KV_FLOW_E_NOT_FOUND: case KV_FLOW_E_BUSY:
        return 1;
    case KV_FLOW_E_INPUT: return 2;
    case KV_FLOW_E_CONFIG: case KV_FLOW_E_JOURNAL: return 3;
    case KV_FLOW_E_PRINTER: return 4;
    case KV_FLOW_E_SERVICE: return 5;
    case KV_FLOW_E_UNKNOWN: case KV_FLOW_E_NOMEM: return 6;
    }
    return 6;
}

/* Start of an operation taking (out, reference): the reference may point
 * into *out (e.g. out->payment.reference), so it is copied into a first
 * and *reference pointed at the copy; then the result (out, or a->dummy
 * when out is NULL) is zeroed and returned. */
kv_flow_result *kv__flow_op_begin(op_args *a, kv_flow_result *out, const char **reference)
{
    if (*reference) {
        scpy(a->ref, sizeof a->ref, *reference);
        *reference = a->ref;
    }
    if (!out)
        out = &a->dummy;
    memset(out, 0, sizeof *out);
    return out;
}

void kv__flow_crash_point(kv_flow *f, const char *step)
{
    if (f->crash_at[0] && strcmp(f->crash_at, step) == 0)
        raise(SIGKILL);
}

void kv__flow_emit(kv_flow *f, kv_flow_event_kind kind, const char *ref, kv_pay_state st, int secs,
                 const char *msg)
{
    if (!f->opts.on_event)
        return;
    kv_flow_event ev = { kind, ref, st, secs, msg ? msg : "" };
    f->opts.on_event(f->opts.event_user, &ev);
}

/* ---------------------------------------------------------------- */
/* open / close                                                      */

static void *prefetch_main(void *client)
{
    (void)kv_vipps_token_warm(client);
    return NULL;
}

kv_flow_status kv_flow_open(kv_flow **out, const kv_config *cfg, const kv_flow_options *opts,
                            char *err, size_t errlen)
{
    if (!out || !cfg) {
        setmsg(err, errlen, "no configuration");
        return KV_FLOW_E_CONFIG;
    }
    if (kv__flow_om_mode_check(cfg, err, errlen))
        return KV_FLOW_E_CONFIG;
    kv_flow *f = calloc(1, sizeof *f);
    if (!f)
        return KV_FLOW_E_NOMEM;
    f->cfg = cfg;
    kv_flow_options def = KV_FLOW_OPTIONS_INIT;
    f->opts = opts ? *opts : def;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    const char *crash = getenv("KVITT_TEST_CRASH_AT");
    if (crash)
        snprintf(f->crash_at, sizeof f->crash_at, "%s", crash);
    const kv_config_main *m = kv_config_main_get(cfg);
    snprintf(f->lockpath, sizeof f->lockpath, "%s.lock", m->journal);
    if (kv_vipps_shared_create(&f->shared) != KV_VIPPS_OK) {
        kv_flow_close(f);
        return KV_FLOW_E_NOMEM;
    }
    /* the token request leaves before the journal work (it moves no money) */
    const kv_store *ds = f->opts.version >= 2 && f->opts.prefetch_token ? kv_config_store(cfg, NULL) : NULL;
    if (ds && kv__flow_client_for(f, &f->prefetch_client, ds, NULL) == KV_FLOW_OK) {
        if (pthread_create(&f->prefetch, NULL, prefetch_main, f->prefetch_client) == 0) {
            f->prefetching = 1;
        } else {
            kv_vipps_client_destroy(f->prefetch_client);
            f->prefetch_client = NULL;
        }
    }
    char jerr[512] = "";
    if (kv_journal_open(&f->j, m->journal, jerr, sizeof jerr) != KV_J_OK) {
        setmsg(err, errlen, "%s", jerr);
        kv_flow_close(f);
        return KV_FLOW_E_JOURNAL;
    }
    *out = f;
    return KV_FLOW_OK;
}

void kv__flow_prefetch_join(kv_flow *f)
{
    pthread_mutex_lock(&f->mu);
    int join = f->prefetching;
    f->prefetching = 0;
    pthread_mutex_unlock(&f->mu);
    if (!join)
        return;
    pthread_join(f->prefetch, NULL);
    kv_vipps_client_destroy(f->prefetch_client);
    f->prefetch_client = NULL;
}

void kv_flow_close(kv_flow *f)
{
    if (!f)
        return;
    kv__flow_prefetch_join(f);
    kv__flow_om_stop(f);
    kv_journal_close(f->j);
    kv_vipps_shared_destroy(f->shared);
    while (f->locks) {
        reflock *n = f->locks->next;
        if (f->locks->fd >= 0)
            close(f->locks->fd);
        free(f->locks);
        f->locks = n;
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

kv_journal *kv_flow_journal(kv_flow *f)
{
    return f ? f->j : NULL;
}

/* ---------------------------------------------------------------- */
/* per-reference locks                                               */

static int ref_locked_nolock(kv_flow *f, const char *ref)
{
    for (reflock *l = f->locks; l; l = l->next)
        if (strcmp(l->ref, ref) == 0)
            return 1;
    return 0;
}

/* Byte of <journal>.lock that stands for a reference (FNV-1a).  Two
 * references sharing a byte only ever wait for each other. */
static off_t ref_byte(const char *ref)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (off_t)(h & 0x3fffffff);
}

/* Lock a reference against other threads (the list) and other processes
 * on the same journal (an open-file-description lock on one byte of
 * <journal>.lock, released by the kernel when the process dies, so a
 * `kvitt recover` in one till never takes over a payment another process
 * is still waiting on).  try: 1 = do not wait.  Returns 0 locked, -1 busy,
 * -2 nomem. */
int kv__flow_lock_ref(kv_flow *f, const char *ref, int try)
{
    pthread_mutex_lock(&f->mu);
    while (ref_locked_nolock(f, ref)) {
        if (try) {
            pthread_mutex_unlock(&f->mu);
            return -1;
        }
        pthread_cond_wait(&f->cv, &f->mu);
    }
    reflock *l = calloc(1, sizeof *l);
    if (!l) {
        pthread_mutex_unlock(&f->mu);
        return -2;
    }
    snprintf(l->ref, sizeof l->ref, "%s", ref);
    l->fd = -1;
    l->next = f->locks;
    f->locks = l;
    pthread_mutex_unlock(&f->mu);
    int fd = open(f->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = ref_byte(ref);
        fl.l_len = 1;
        int rc;
        do
            rc = fcntl(fd, try ? F_OFD_SETLK : F_OFD_SETLKW, &fl);
        while (rc != 0 && errno == EINTR && !try);
        if (rc != 0 && try && (errno == EAGAIN || errno == EACCES)) {
            close(fd);
            kv__flow_unlock_ref(f, ref);
            return -1;
        }
        if (rc != 0) {
            close(fd); /* no cross-process lock available: threads only */
            fd = -1;
        }
    }
    l->fd = fd;
    return 0;
}

void kv__flow_unlock_ref(kv_flow *f, const char *ref)
{
    pthread_mutex_lock(&f->mu);
    for (reflock **pp = &f->locks; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ref, ref) == 0) {
            reflock *l = *pp;
            *pp = l->next;
            if (l->fd >= 0)
                close(l->fd);
            free(l);
            break;
        }
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------------- */
/* helpers                                                           */

kv_lang kv__flow_store_lang(const kv_store *s)
{
    kv_lang l = KV_LANG_NB;
    if (s && kv_lang_from_name(&l, s->language) != 0)
        l = KV_LANG_EN;
    return l;
}

void kv__flow_time_text(char *buf, size_t len, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

void kv__flow_fill(kv_flow *f, kv_flow_result *out, const char *ref)
{
    kv_payment p;
    if (out && kv_journal_get_payment(f->j, &p, ref) == KV_J_OK)
        out->payment = p;
}

kv_flow_status kv__flow_jfail(kv_flow_result *out, const char *what)
{
    if (out) {
        setmsg(out->cashier, sizeof out->cashier, "Journal error");
        setmsg(out->detail, sizeof out->detail, "the journal cannot be written (%s); nothing more was sent", what);
    }
    return KV_FLOW_E_JOURNAL;
}

kv_flow_status kv__flow_save(kv_flow *f, kv_payment *p, kv_pay_state st, const char *note)
{
    kv_pay_state old = p->state;
    p->state = st;
    if (kv_journal_update_payment(f->j, p, note) != KV_J_OK)
        return KV_FLOW_E_JOURNAL;
    if (old != st)
        kv__flow_emit(f, KV_FEV_STATE, p->reference, st, -1, note);
    return KV_FLOW_OK;
}

/* A vipps client for a store (its credentials and MSN). */
kv_flow_status kv__flow_client_for(kv_flow *f, kv_vipps_client **out, const kv_store *s, kv_flow_result *res)
{
    const kv_config_main *m = kv_config_main_get(f->cfg);
    const kv_credentials *cr = kv_config_credentials(f->cfg, s);
    if (!cr) {
        if (res)
            setmsg(res->detail, sizeof res->detail, "store %s has no credentials; fix: add [credentials %s] to the secrets file",
                   s->id, s->credentials);
        return KV_FLOW_E_CONFIG;
    }
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = m->environment;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = s->msn;
    o.partner_keys = cr->partner;
    o.system_name = m->system_name;
    o.system_version = m->system_version;
    o.plugin_name = m->plugin_name;
    o.plugin_version = m->plugin_version;
    o.lang = kv_vipps_lang_from_code(s->language);
    o.connect_timeout_ms = m->connect_timeout_ms;
    o.total_timeout_ms = m->total_timeout_ms;
    o.shared = f->shared;
    o.log = f->opts.vipps_log;
    o.log_payload = f->opts.vipps_log_payload;
    o.log_level = f->opts.vipps_log_level;
    o.trace_path = f->opts.trace_path;
    char err[400] = "";
    if (kv_vipps_client_create(out, &o, err, sizeof err) != KV_VIPPS_OK) {
        if (res)
            setmsg(res->detail, sizeof res->detail, "payment client for store %s: %s", s->id, err);
        return KV_FLOW_E_CONFIG;
    }
    return KV_FLOW_OK;
}

void kv__flow_api_msg(kv_flow_result *out, kv_vipps_client *c, const char *what)
{
    const kv_vipps_error *e = kv_vipps_last_error(c);
    if (!out || !e)
        return;
    setmsg(out->cashier, sizeof out->cashier, "%s", e->cashier[0] ? e->cashier : what);
    setmsg(out->detail, sizeof out->detail, "%s: %s", what, e->log);
    out->api_status = e->http_status;
    out->api_code = e->code;
    /* The id goes into log lines as is: keep it to id characters. */
    size_t k = 0;
    for (const char *q = e->trace_id; *q && k + 1 < sizeof out->trace_id; q++)
        if ((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
            *q == '-' || *q == '_' || *q == '.' || *q == ':')
            out->trace_id[k++] = *q;
    out->trace_id[k] = '\0';
}

const kv_store *kv__flow_store_of(kv_flow *f, const kv_payment *p)
{
    const kv_store *s = kv_config_store(f->cfg, p->store_id);
    if (!s)
        s = kv_config_store_by_prefix(f->cfg, p->reference);
    return s;
}
