"""The container broker's accounts, what each may do, and its TLS certificate.

Mosquitto's dynamic security plugin holds the accounts: unlike an acl_file, it refuses a SUBSCRIBE
the account may not make (instead of granting it and dropping what it would deliver), and it binds
an account to one client id. ``deliverer broker-accounts`` writes its config from the environment
and applies changes to a running broker; ``deliverer broker-certs`` makes the TLS certificate.
"""
