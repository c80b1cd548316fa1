/* preload_fakedns.c - a resolver of its own for names under fake.test, preloaded after the shim
 * (LD_PRELOAD=libconnwarden.so:preload_fakedns.so), so that a test can resolve a million distinct
 * names in seconds with nothing on the machine changed: hN.fake.test is 10.a.b.c (N's three low
 * bytes); final.fake.test, loNAME.fake.test and sigNAME.fake.test are 127.0.0.1; any other name
 * goes to the C library's getaddrinfo. Answers come from a static ring of 64 blocks with no
 * allocation at all: a signal handler may resolve, and the memory a test measures is the shim's
 * (a sanitizer's quarantine of freed answers would otherwise grow with every call). freeaddrinfo,
 * also here, leaves the ring's blocks alone. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct block {
  struct addrinfo ai;
  struct sockaddr_in sin;
};
static struct block ring[64];
static unsigned ring_next;

static int answer(const char *node, const char *service, struct addrinfo **res) {
  const char *dot = strstr(node, ".fake.test");
  if (!dot || dot[10] != '\0')
    return 1;
  struct in_addr a;
  if (strcmp(node, "final.fake.test") == 0 || strncmp(node, "lo", 2) == 0 || strncmp(node, "sig", 3) == 0) {
    a.s_addr = htonl(0x7f000001);
  } else if (node[0] == 'h') {
    unsigned long n = strtoul(node + 1, NULL, 10);
    a.s_addr = htonl(0x0a000000 | (n & 0xffffff));
  } else {
    return EAI_NONAME;
  }
  struct block *b = &ring[__atomic_fetch_add(&ring_next, 1, __ATOMIC_RELAXED) % 64];
  memset(b, 0, sizeof *b);
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

void freeaddrinfo(struct addrinfo *ai) {
  if ((char *)ai >= (char *)ring && (char *)ai < (char *)(ring + 64))
    return;
  static void (*real)(struct addrinfo *);
  if (!real)
    real = (void (*)(struct addrinfo *))dlsym(RTLD_NEXT, "freeaddrinfo");
  real(ai);
}
