from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self):
        # Every app records through the core's entry point; this app writes the entries.
        from audit.services import audit_entry_create
        from chatorical.audit_trail import audit_writer_register

        audit_writer_register(audit_entry_create)
