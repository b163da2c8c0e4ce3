"""Glue between akjob and other libraries, each usable only with its optional extra."""
