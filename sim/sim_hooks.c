/* sim_hooks.c - the Webhooks API v1: register, list and delete webhooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

/* ---- Webhooks API ---- */
static int known_event(const char *e)
{
    static const char *const names[] = {
        "epayments.payment.created.v1", "epayments.payment.aborted.v1",
        "epayments.payment.expired.v1", "epayments.payment.cancelled.v1",
        "epayments.payment.captured.v1", "epayments.payment.refunded.v1",
        "epayments.payment.authorized.v1", "epayments.payment.terminated.v1",
        "recurring.agreement-activated.v1", "recurring.agreement-rejected.v1",
        "recurring.agreement-stopped.v1", "recurring.agreement-expired.v1",
        "recurring.charge-reserved.v1", "recurring.charge-captured.v1",
        "recurring.charge-canceled.v1", "recurring.charge-refunded.v1",
        "recurring.charge-failed.v1", "recurring.charge-creation-failed.v1",
        "user.checked-in.v1", "login.merchant-initiated.ping.v1",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(e, names[i])) return 1;
    return 0;
}

void sim_hooks_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                     int nseg)
{
    const char *inst = rq->path + strlen("/webhooks");
    if (nseg == 3 && !strcmp(rq->method, "POST")) {
        cJSON *b = cJSON_Parse(rq->body);
        const char *url = b ? sim_json_str(b, "url") : NULL;
        const cJSON *ev = b ? cJSON_GetObjectItemCaseSensitive(b, "events") : NULL;
        if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) || strlen(url) > 2000) {
            sim_problem_field(s, r, 400, "url must be an absolute https URL", inst, "url");
            cJSON_Delete(b);
            return;
        }
        if (!cJSON_IsArray(ev) || cJSON_GetArraySize(ev) < 1) {
            sim_problem_field(s, r, 400, "events must be a non-empty array", inst, "events");
            cJSON_Delete(b);
            return;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, ev) {
            if (!cJSON_IsString(e) || !known_event(e->valuestring)) {
                sim_problem_field(s, r, 400, "unknown event name", inst, "events");
                cJSON_Delete(b);
                return;
            }
            int n = 0;
            for (sim_hook *h = s->hooks; h; h = h->next)
                for (int i = 0; i < h->nevents; i++)
                    if (!strcmp(h->msn, msn) && !strcmp(h->events[i], e->valuestring)) n++;
            int limit = strcmp(e->valuestring, "user.checked-in.v1") ? 25 : 1;
            if (n >= limit) {
                sim_problem(s, r, 400, "Bad Request",
                            "Too many registrations for this event on this sales unit", inst, NULL);
                cJSON_Delete(b);
                return;
            }
        }
        sim_hook *h = calloc(1, sizeof *h);
        int n = cJSON_GetArraySize(ev);
        if (h) h->events = calloc((size_t)n, sizeof *h->events);
        unsigned char raw[64];
        for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)sim_rand(s);
        if (!h || !h->events) { free(h); cJSON_Delete(b); sim_apim_error(r, 500, "Internal server error"); return; }
        sim_uuid(s, h->id);
        snprintf(h->msn, sizeof h->msn, "%s", msn);
        h->url = strdup(url);
        h->secret = sim_b64(raw, sizeof raw, 0);
        cJSON_ArrayForEach(e, ev) h->events[h->nevents++] = strdup(e->valuestring);
        h->next = s->hooks;
        s->hooks = h;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", h->id);
        cJSON_AddStringToObject(o, "secret", h->secret);
        sim_resp_json(r, 201, o);
        cJSON_Delete(b);
        return;
    }
    if (nseg == 3 && !strcmp(rq->method, "GET")) {
        cJSON *o = cJSON_CreateObject();
        cJSON *a = cJSON_AddArrayToObject(o, "webhooks");
        for (sim_hook *h = s->hooks; h; h = h->next) {
            if (strcmp(h->msn, msn)) continue;
            cJSON *w = cJSON_CreateObject();
            cJSON_AddStringToObject(w, "id", h->id);
            cJSON_AddStringToObject(w, "url", h->url);
            cJSON *ea = cJSON_AddArrayToObject(w, "events");
            for (int i = 0; i < h->nevents; i++) cJSON_AddItemToArray(ea, cJSON_CreateString(h->events[i]));
            cJSON_AddItemToArray(a, w);
        }
        sim_resp_json(r, 200, o);
        return;
    }
    if (nseg == 4 && !strcmp(rq->method, "DELETE")) {
        for (sim_hook **pp = &s->hooks; *pp; pp = &(*pp)->next) {
            sim_hook *h = *pp;
            if (strcmp(h->id, seg[3]) || strcmp(h->msn, msn)) continue;
            *pp = h->next;
            for (int i = 0; i < h->nevents; i++) free(h->events[i]);
            free(h->events); free(h->url); free(h->secret); free(h);
            sim_resp_text(r, 204, NULL, NULL);
            return;
        }
        sim_problem(s, r, 404, "Not Found", "No webhook with this id", inst, NULL);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}
