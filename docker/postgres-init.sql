-- One database per target on the one server, as the native stack does.
CREATE DATABASE legacy;
CREATE DATABASE refactored;
