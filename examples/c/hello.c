#include <stdio.h>
#include <string.h>
#include "gohttplib.h"

void handler(ResponseWriterPtr w, Request *req)
{
  printf("%s %s\n", req->Method, req->URL);
  char *buf = "Hello, world.\n";
  ResponseWriter_Write(w, buf, strlen(buf));
}

int main()
{
  HandleFunc("/", &handler);
  ListenAndServe(":5000");
  return 0;
}
