# docs.mk - the manual pages (connwarden(1), connwarden(7)) and the bash completion: installed and
# removed with the program; the exporter links libmicrohttpd. Included at the end of the Makefile.
CLI_LIBS += -lmicrohttpd

MANDIR ?= $(PREFIX)/share/man
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions

.PHONY: install-docs uninstall-docs

install: install-docs
uninstall: uninstall-docs

install-docs:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASH_COMPLETION_DIR)
	install -m 0644 man/connwarden.1 $(DESTDIR)$(MANDIR)/man1/connwarden.1
	install -m 0644 man/connwarden.7 $(DESTDIR)$(MANDIR)/man7/connwarden.7
	install -m 0644 completion/connwarden.bash $(DESTDIR)$(BASH_COMPLETION_DIR)/connwarden

uninstall-docs:
	rm -f $(DESTDIR)$(MANDIR)/man1/connwarden.1 $(DESTDIR)$(MANDIR)/man7/connwarden.7 \
	  $(DESTDIR)$(BASH_COMPLETION_DIR)/connwarden
