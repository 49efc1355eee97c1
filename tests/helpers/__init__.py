"""What the tests of every area share: factories, pages driven as a browser would, live
servers (gunicorn, SMTP) on loopback."""
