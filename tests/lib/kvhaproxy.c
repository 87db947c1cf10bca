/* kvhaproxy.c - see kvhaproxy.h. */
#include "tests/lib/kvhaproxy.h"

#include <stdio.h>

int kvt_haproxy_config(char *buf, size_t len, int lb_port, const int *ports, int n)
{
    int off = snprintf(buf, len,
                       "global\n    maxconn 4000\n"
                       "defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n"
                       "    timeout server 60s\n    retries 2\n    option redispatch\n"
                       "frontend kvitt\n    bind 127.0.0.1:%d\n    default_backend daemons\n"
                       "backend daemons\n    balance roundrobin\n    option httpchk GET /readyz\n"
                       "    http-check expect status 200\n"
                       "    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions\n",
                       lb_port);
    for (int i = 0; i < n && i < 26 && off >= 0 && (size_t)off < len; i++)
        off += snprintf(buf + off, len - (size_t)off, "    server %c 127.0.0.1:%d check\n", 'a' + i,
                        ports[i]);
    return off < 0 || (size_t)off >= len ? -1 : off;
}
