"""Enrolled faces: roster data of the domain, kept in the gate's database like persons and permits.

`gallery` stores each person's face encodings (the platform syncs them with the roster) and
searches them through vision's in-memory index; `snapshots` keeps unknown faces for a few days;
`schema` holds the migrations of their tables.
"""
