/* addr.c - conversions between sockaddr, struct cw_addr and text. Pure, any thread. */
#define _GNU_SOURCE
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void cw_addr_from_sockaddr(struct cw_addr *a, const struct sockaddr *sa, socklen_t len) {
  memset(a, 0, sizeof *a);
  if (!sa || len < (socklen_t)sizeof(sa_family_t))
    return;
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    a->family = AF_INET;
    memcpy(a->ip, &in->sin_addr, 4);
    a->port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    a->family = AF_INET6;
    memcpy(a->ip, &in6->sin6_addr, 16);
    a->port = ntohs(in6->sin6_port);
  }
}

char *cw_addr_format(const struct cw_addr *a, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN];
  if (a->family == AF_INET && inet_ntop(AF_INET, a->ip, ip, sizeof ip))
    snprintf(buf, size, "%s:%u", ip, a->port);
  else if (a->family == AF_INET6 && inet_ntop(AF_INET6, a->ip, ip, sizeof ip))
    snprintf(buf, size, "[%s]:%u", ip, a->port);
  else
    snprintf(buf, size, "?");
  return buf;
}
