/* report.c - certify.md (for people) and certify.json (for tools): every
 * checklist line with its reference, final state, event log, the headers
 * sent (secrets masked) and the reason when it did not pass. */
#include "src/certify/certify_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* Markdown table cells: no '|' or newlines from foreign text. */
static void cell(FILE *f, const char *s)
{
    for (; s && *s; s++)
        fputc(*s == '|' ? '/' : (*s == '\n' || *s == '\r') ? ' ' : *s, f);
}

static const cert_pay *line_pay(const kv_certify *c, const cert_line *l)
{
    return l->pay >= 0 ? &c->pays[l->pay] : NULL;
}

static void amounts(char *buf, size_t len, const kv_certify *c, const cert_pay *p)
{
    char a[32], cap[32], ref[32], can[32];
    kv_flow_format_amount(a, sizeof a, p->last.authorized);
    kv_flow_format_amount(cap, sizeof cap, p->last.captured);
    kv_flow_format_amount(ref, sizeof ref, p->last.refunded);
    kv_flow_format_amount(can, sizeof can, p->last.cancelled);
    snprintf(buf, len, "%s: authorized %s, captured %s, refunded %s, cancelled %s", c->store->currency, a, cap,
             ref, can);
}

static void md_events(FILE *f, const cert_pay *p)
{
    if (!p->nev) {
        fprintf(f, "- Event log: (none read)\n");
        return;
    }
    fprintf(f, "- Event log of %s:\n\n  | time | event | amount | success | Idempotency-Key |\n"
               "  |---|---|---|---|---|\n", p->ref);
    for (size_t i = 0; i < p->nev; i++) {
        const kv_vipps_event *e = &p->ev[i];
        char m[32];
        kv_flow_format_amount(m, sizeof m, e->amount);
        fprintf(f, "  | ");
        cell(f, e->timestamp);
        fprintf(f, " | ");
        cell(f, e->name);
        fprintf(f, " | %s %s | %s | ", e->currency, m, e->success ? "true" : "false");
        cell(f, e->idempotency_key);
        fprintf(f, " |\n");
    }
    fprintf(f, "\n");
}

static int write_md(kv_certify *c, FILE *f)
{
    size_t passed = 0;
    for (size_t i = 0; i < c->nlines; i++)
        passed += c->lines[i].result == R_PASSED;
    const kv_config_main *m = kv_config_main_get(c->cfg);
    fprintf(f, "# Vipps MobilePay ePayment checklist: kvitt certify\n\n");
    fprintf(f, "- Environment: %s (%s)\n", kv_certify_env_name(c->env), c->base_url);
    fprintf(f, "- Store: %s (%s), MSN %s, currency %s\n", c->store->id, c->store->name, c->store->msn,
            c->store->currency);
    fprintf(f, "- System: %s %s, plugin %s %s\n", m->system_name, m->system_version, m->plugin_name,
            m->plugin_version);
    fprintf(f, "- Run: %s, started %s\n", c->run_id, c->started);
    fprintf(f, "- Result: %zu of %zu lines passed%s\n\n", passed, c->nlines,
            passed == c->nlines ? "" : " (see the reasons below)");
    fprintf(f, "| # | Checklist line | Result | Reference | Final state |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < c->nlines; i++) {
        const cert_line *l = &c->lines[i];
        const cert_pay *p = line_pay(c, l);
        fprintf(f, "| %zu | %s: ", i + 1, l->id);
        cell(f, l->title);
        fprintf(f, " | %s | %s | %s |\n", kvc_result_name(l->result), p ? p->ref : "", p ? p->final : "");
    }
    fprintf(f, "\n## Payments\n\n| Reference | Purpose | Final state | Amounts |\n|---|---|---|---|\n");
    for (size_t i = 0; i < c->npays; i++) {
        const cert_pay *p = &c->pays[i];
        char am[256] = "";
        if (p->have)
            amounts(am, sizeof am, c, p);
        fprintf(f, "| %s | %s | %s | %s |\n", p->ref, p->role, p->final[0] ? p->final : p->note, am);
    }
    fprintf(f, "\n## Lines\n");
    for (size_t i = 0; i < c->nlines; i++) {
        const cert_line *l = &c->lines[i];
        const cert_pay *p = line_pay(c, l);
        fprintf(f, "\n### %zu. %s: %s\n\n- Result: **%s**\n", i + 1, l->id, l->title, kvc_result_name(l->result));
        if (p) {
            fprintf(f, "- Reference: %s\n- Final state: %s", p->ref, p->final[0] ? p->final : "unknown");
            if (p->have) {
                char am[256];
                amounts(am, sizeof am, c, p);
                fprintf(f, " (%s)", am);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "- %s: ", l->result == R_PASSED ? "Evidence" : "Reason");
        cell(f, l->reason);
        fprintf(f, "\n");
        if (l->req >= 0 && (size_t)l->req < c->nreqs) {
            const cert_req *r = &c->reqs[l->req];
            fprintf(f, "- Request: `%s %s`; headers sent:\n\n", r->method, r->path);
            for (const char *h = r->headers; h && *h;) {
                const char *e = strchr(h, '\n');
                fprintf(f, "      %.*s\n", (int)(e ? e - h : (long)strlen(h)), h);
                h = e ? e + 1 : NULL;
            }
            fprintf(f, "\n");
        }
        if (p)
            md_events(f, p);
    }
    fprintf(f, "\n## Sending this to Vipps MobilePay\n\n"
               "Send the completed checklist with the references above (ending CAPTURED, REFUNDED and\n"
               "CANCELLED; in production also AUTHORIZED), the MSN, a short description and a video of the\n"
               "payment flow to developer@vippsmobilepay.com.  Request examples must be less than a month\n"
               "old.  See docs/certify.md.\n");
    return ferror(f) ? -1 : 0;
}

static cJSON *events_json(const cert_pay *p)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; p && i < p->nev; i++) {
        const kv_vipps_event *e = &p->ev[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddStringToObject(o, "timestamp", e->timestamp);
        cJSON_AddStringToObject(o, "currency", e->currency);
        cJSON_AddNumberToObject(o, "amount", (double)e->amount);
        cJSON_AddBoolToObject(o, "success", e->success);
        cJSON_AddStringToObject(o, "pspReference", e->psp_reference);
        if (e->idempotency_key[0])
            cJSON_AddStringToObject(o, "idempotencyKey", e->idempotency_key);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static char *write_json(kv_certify *c)
{
    cJSON *o = cJSON_CreateObject();
    size_t passed = 0;
    for (size_t i = 0; i < c->nlines; i++)
        passed += c->lines[i].result == R_PASSED;
    cJSON_AddStringToObject(o, "tool", "kvitt certify");
    cJSON_AddStringToObject(o, "environment", kv_certify_env_name(c->env));
    cJSON_AddStringToObject(o, "baseUrl", c->base_url);
    cJSON_AddStringToObject(o, "store", c->store->id);
    cJSON_AddStringToObject(o, "msn", c->store->msn);
    cJSON_AddStringToObject(o, "runId", c->run_id);
    cJSON_AddStringToObject(o, "started", c->started);
    cJSON_AddBoolToObject(o, "passed", passed == c->nlines);
    cJSON *lines = cJSON_AddArrayToObject(o, "lines");
    for (size_t i = 0; i < c->nlines; i++) {
        const cert_line *l = &c->lines[i];
        const cert_pay *p = line_pay(c, l);
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", l->id);
        cJSON_AddStringToObject(x, "title", l->title);
        cJSON_AddStringToObject(x, "result", kvc_result_name(l->result));
        cJSON_AddStringToObject(x, "reference", p ? p->ref : "");
        cJSON_AddStringToObject(x, "finalState", p ? p->final : "");
        cJSON_AddStringToObject(x, l->result == R_PASSED ? "evidence" : "reason", l->reason);
        if (l->req >= 0 && (size_t)l->req < c->nreqs) {
            const cert_req *r = &c->reqs[l->req];
            char rq[300];
            snprintf(rq, sizeof rq, "%s %s", r->method, r->path);
            cJSON_AddStringToObject(x, "request", rq);
            cJSON *h = cJSON_AddArrayToObject(x, "headers");
            for (const char *s = r->headers; s && *s;) {
                const char *e = strchr(s, '\n');
                char one[1024];
                snprintf(one, sizeof one, "%.*s", (int)(e ? e - s : (long)strlen(s)), s);
                cJSON_AddItemToArray(h, cJSON_CreateString(one));
                s = e ? e + 1 : NULL;
            }
        }
        cJSON_AddItemToObject(x, "events", events_json(p));
        cJSON_AddItemToArray(lines, x);
    }
    cJSON *pays = cJSON_AddArrayToObject(o, "payments");
    for (size_t i = 0; i < c->npays; i++) {
        const cert_pay *p = &c->pays[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "reference", p->ref);
        cJSON_AddStringToObject(x, "purpose", p->role);
        cJSON_AddStringToObject(x, "finalState", p->final);
        cJSON_AddStringToObject(x, "note", p->note);
        if (p->have) {
            cJSON_AddStringToObject(x, "state", kv_vipps_state_name(p->last.state));
            cJSON *ag = cJSON_AddObjectToObject(x, "aggregate");
            cJSON_AddStringToObject(ag, "currency", c->store->currency);
            cJSON_AddNumberToObject(ag, "authorizedAmount", (double)p->last.authorized);
            cJSON_AddNumberToObject(ag, "capturedAmount", (double)p->last.captured);
            cJSON_AddNumberToObject(ag, "refundedAmount", (double)p->last.refunded);
            cJSON_AddNumberToObject(ag, "cancelledAmount", (double)p->last.cancelled);
        }
        cJSON_AddItemToObject(x, "events", events_json(p));
        cJSON_AddItemToArray(pays, x);
    }
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* Write to DIR/name.tmp, then rename: a reader never sees half a file. */
static int put(const char *dir, const char *name, const char *text, size_t len)
{
    char tmp[1200], dst[1200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 && errno != EINVAL) { /* the references must survive a crash */
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, dst) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int kvc_report_write(kv_certify *c, const char *dir)
{
    char *md = NULL;
    size_t mdlen = 0;
    FILE *f = open_memstream(&md, &mdlen);
    if (!f)
        return -1;
    int rc = write_md(c, f);
    if (fclose(f) != 0)
        rc = -1;
    char *js = write_json(c);
    if (!js || !md)
        rc = -1;
    if (rc == 0) {
        /* last line of defence: no secret value leaves the module */
        kvc_mask(c, md);
        kvc_mask(c, js);
        mdlen = strlen(md);
        rc = put(dir, "certify.md", md, mdlen);
        if (rc == 0)
            rc = put(dir, "certify.json", js, strlen(js));
    }
    free(md);
    free(js);
    return rc;
}
