-- The validator owns the candidate registry it checks uploads against
-- (here our own tables; a real site may plug in its LORIS database instead).
CREATE SCHEMA IF NOT EXISTS validator;

CREATE TABLE validator.sites (
    site_id  serial PRIMARY KEY,
    name     text NOT NULL UNIQUE,
    alias    text NOT NULL UNIQUE
);

CREATE TABLE validator.candidates (
    candid   text PRIMARY KEY,
    pscid    text NOT NULL UNIQUE,
    site_id  integer NOT NULL REFERENCES validator.sites,
    active   boolean NOT NULL DEFAULT true
);

CREATE TABLE validator.sessions (
    session_id  serial PRIMARY KEY,
    candid      text NOT NULL REFERENCES validator.candidates,
    visit_label text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    UNIQUE (candid, visit_label)
);

SELECT public.create_messaging_tables('validator');
