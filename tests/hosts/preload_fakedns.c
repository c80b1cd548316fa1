/* preload_fakedns.c - a resolver of its own for names under fake.test, preloaded after the shim
 * (LD_PRELOAD=libconnwarden.so:preload_fakedns.so), so that a test can resolve a million distinct
 * names in seconds with nothing on the machine changed: hN.fake.test is 10.a.b.c (N's three low
 * bytes), final.fake.test is 127.0.0.1; any other name goes to the C library's getaddrinfo. Each
 * answer is one block of malloc'd memory with no canonical name, as glibc's freeaddrinfo frees. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static int answer(const char *node, const char *service, struct addrinfo **res) {
  const char *dot = strstr(node, ".fake.test");
  if (!dot || dot[10] != '\0')
    return 1;
  struct in_addr a;
  if (strcmp(node, "final.fake.test") == 0) {
    a.s_addr = htonl(0x7f000001);
  } else if (node[0] == 'h') {
    unsigned long n = strtoul(node + 1, NULL, 10);
    a.s_addr = htonl(0x0a000000 | (n & 0xffffff));
  } else {
    return EAI_NONAME;
  }
  struct {
    struct addrinfo ai;
    struct sockaddr_in sin;
  } *b = calloc(1, sizeof *b);
  if (!b)
    return EAI_MEMORY;
  b->sin.sin_family = AF_INET;
  b->sin.sin_port = htons(service ? (uint16_t)atoi(service) : 0);
  b->sin.sin_addr = a;
  b->ai.ai_family = AF_INET;
  b->ai.ai_socktype = SOCK_STREAM;
  b->ai.ai_protocol = IPPROTO_TCP;
  b->ai.ai_addrlen = sizeof b->sin;
  b->ai.ai_addr = (struct sockaddr *)&b->sin;
  *res = &b->ai;
  return 0;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  int r = node ? answer(node, service, res) : 1;
  if (r != 1)
    return r;
  static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
  if (!real)
    real = (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
  return real(node, service, hints, res);
}
