/* py_embed.c - a Python interpreter that lives in libpython (DT_NEEDED), not in the executable:
 * the shape of programs that embed CPython. Runs as python3 does: py_embed [python args...].
 * links: -l:libpython3.11.so.1.0
 */
extern int Py_BytesMain(int argc, char **argv);

int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }
