-- flowlens ports as plain SQL (DuckDB): the Berkeley per-host port report over flows Parquet,
-- with the semantics of DESIGN.md, row for row what `flowlens ports --services /dev/null
-- --format csv` prints (ports as numbers: this file has no services table, join one on
-- sport/dport for names). It is also the way to run the report where data outgrows one
-- machine: Spark and Trino read the same Parquet (the functions below are DuckDB's; the
-- shape of the query carries over).
--
-- Input: a relation named `flows` with the flows columns, e.g.
--   CREATE VIEW flows AS SELECT * FROM read_parquet('store/flows/**/*.parquet', union_by_name = true);
-- Parameters, as DuckDB variables (all optional; the defaults are flowlens's):
--   SET VARIABLE ports_local = ['128.32.0.0/16', '2001:db8::/32'];  -- --local (default: every address)
--   SET VARIABLE ports_many = 3;                                    -- --many
--   SET VARIABLE ports_top = 9;                                     -- --top
--   SET VARIABLE ports_watch = [1214, 6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 6697];  -- --watch
--   SET VARIABLE ports_top_hosts = 50;                              -- --top-hosts (default: all)
-- Output columns: host_rank, row, ip, sport, dport ('*' for many/port 0, '-1' for Other),
-- flows, in_packets, in_bytes, out_packets, out_bytes, total_packets, total_bytes.

WITH
params AS (
    SELECT
        coalesce(getvariable('ports_many'), 3)::BIGINT AS many,
        coalesce(getvariable('ports_top'), 9)::BIGINT AS top_n,
        coalesce(getvariable('ports_watch'), [1214, 6660, 6661, 6662, 6663, 6664, 6665, 6666, 6667, 6668, 6669, 6697])::INT[] AS watch,
        getvariable('ports_top_hosts')::BIGINT AS top_hosts,
        coalesce(getvariable('ports_local'), []::VARCHAR[])::VARCHAR[] AS local
),
nets_text AS (
    SELECT cidr, split_part(cidr, '/', 1) AS ip, split_part(cidr, '/', 2)::INT AS len
    FROM (SELECT unnest(local) AS cidr FROM params)
),
addresses AS (
    SELECT sip AS ip FROM flows UNION SELECT dip FROM flows
),
-- Every address (and --local network) as an unsigned 128-bit number (IPv4 in the low 32 bits),
-- for CIDR tests and for ordering hosts numerically (IPv4 before IPv6, as flowlens does). One
-- step per CTE, materialized: the addresses are few, and inlined steps multiply expressions.
-- IPv6 with a dotted IPv4 tail (::ffff:1.2.3.4) first becomes hex groups.
ip_tail AS MATERIALIZED (
    SELECT ip, contains(ip, ':') AS v6, lower(ip) AS t,
           CASE WHEN contains(ip, ':') AND contains(ip, '.') THEN regexp_extract(ip, '[0-9.]+$') END AS tail
    FROM (SELECT ip FROM addresses UNION SELECT ip FROM nets_text)
),
ip_hex AS MATERIALIZED (
    SELECT ip, v6,
           CASE WHEN tail IS NULL THEN t
                ELSE left(t, length(t) - length(tail))
                     || printf('%x:%x',
                               split_part(tail, '.', 1)::INT * 256 + split_part(tail, '.', 2)::INT,
                               split_part(tail, '.', 3)::INT * 256 + split_part(tail, '.', 4)::INT)
           END AS t
    FROM ip_tail
),
-- '::' at either end gets a zero group beside it, so that it always sits between two groups.
ip_edges AS MATERIALIZED (
    SELECT ip, v6, CASE WHEN ends_with(t1, '::') THEN t1 || '0' ELSE t1 END AS t
    FROM (SELECT ip, v6, CASE WHEN starts_with(t, '::') THEN '0' || t ELSE t END AS t1 FROM ip_hex)
),
-- '::' becomes as many zero groups as are missing from eight.
ip_full AS MATERIALIZED (
    SELECT ip, v6,
           CASE WHEN contains(t, '::')
                THEN replace(t, '::', ':' || repeat('0:', 8 - (length(t) - length(replace(t, ':', '')))))
                ELSE t END AS t
    FROM ip_edges
),
ip_num AS MATERIALIZED (
    SELECT ip, v6,
           CASE WHEN v6 THEN
                ('0x' || lpad(split_part(t, ':', 1), 4, '0') || lpad(split_part(t, ':', 2), 4, '0')
                      || lpad(split_part(t, ':', 3), 4, '0') || lpad(split_part(t, ':', 4), 4, '0')
                      || lpad(split_part(t, ':', 5), 4, '0') || lpad(split_part(t, ':', 6), 4, '0')
                      || lpad(split_part(t, ':', 7), 4, '0') || lpad(split_part(t, ':', 8), 4, '0'))::UHUGEINT
           ELSE split_part(t, '.', 1)::UHUGEINT * 16777216 + split_part(t, '.', 2)::UHUGEINT * 65536
                + split_part(t, '.', 3)::UHUGEINT * 256 + split_part(t, '.', 4)::UHUGEINT
           END AS num
    FROM ip_full
),
nets AS MATERIALIZED (
    SELECT n.len, i.v6, i.num, (CASE WHEN i.v6 THEN 128 ELSE 32 END) - n.len AS host_bits
    FROM nets_text n JOIN ip_num i ON i.ip = n.ip
),
-- Hosts: the addresses inside a --local network, or every address when there is none.
hosts AS MATERIALIZED (
    SELECT i.ip, i.v6, i.num
    FROM ip_num i SEMI JOIN addresses a ON a.ip = i.ip
    WHERE NOT EXISTS (SELECT 1 FROM nets)
    UNION
    SELECT i.ip, i.v6, i.num
    FROM ip_num i SEMI JOIN addresses a ON a.ip = i.ip
    JOIN nets n ON n.v6 = i.v6
     AND (n.len = 0 OR (i.num >> greatest(n.host_bits, 0)::UHUGEINT) = (n.num >> greatest(n.host_bits, 0)::UHUGEINT))
),
-- One row per flow and host it concerns: outgoing for its source, incoming for its destination
-- (a flow from a host to itself is one flow, in both directions). Null ports count as 0, null
-- or negative counters as 0.
roles AS (
    SELECT sip AS host, coalesce(sport, 0) AS sport, coalesce(dport, 0) AS dport, 1 AS flows,
           0 AS in_packets, 0 AS in_bytes,
           greatest(coalesce(packets, 0), 0) AS out_packets, greatest(coalesce(bytes, 0), 0) AS out_bytes
    FROM flows WHERE sip IN (SELECT ip FROM hosts)
    UNION ALL
    SELECT dip, coalesce(sport, 0), coalesce(dport, 0), CASE WHEN sip = dip THEN 0 ELSE 1 END,
           greatest(coalesce(packets, 0), 0), greatest(coalesce(bytes, 0), 0), 0, 0
    FROM flows WHERE dip IN (SELECT ip FROM hosts)
),
groups AS (
    SELECT host, sport, dport, sum(flows) AS flows, sum(in_packets) AS in_packets, sum(in_bytes) AS in_bytes,
           sum(out_packets) AS out_packets, sum(out_bytes) AS out_bytes
    FROM roles GROUP BY host, sport, dport
),
-- Distinct counterparts of each port: groups are distinct (sport, dport) pairs per host.
paired AS (
    SELECT *, count(*) OVER (PARTITION BY host, sport) AS s_pairs,
              count(*) OVER (PARTITION BY host, dport) AS d_pairs
    FROM groups
),
-- The '*' collapse: keep the source port when it qualifies and wins (more counterparts; on a
-- tie the lower port), else the destination port when it qualifies.
collapsed AS (
    SELECT host, flows, in_packets, in_bytes, out_packets, out_bytes,
           CASE WHEN keep_dst THEN 0 ELSE sport END AS rs,
           CASE WHEN keep_src THEN 0 ELSE dport END AS rd
    FROM (
        SELECT p.*,
               keep_src_ AS keep_src,
               (NOT keep_src_ AND d_pairs > many) AS keep_dst
        FROM (
            SELECT paired.*, params.many,
                   (s_pairs > many AND (d_pairs <= many OR s_pairs > d_pairs OR (s_pairs = d_pairs AND sport < dport))) AS keep_src_
            FROM paired, params
        ) p
    )
),
rows AS (
    SELECT host, rs, rd, sum(flows) AS flows, sum(in_packets) AS in_packets, sum(in_bytes) AS in_bytes,
           sum(out_packets) AS out_packets, sum(out_bytes) AS out_bytes
    FROM collapsed GROUP BY host, rs, rd
),
ranked AS (
    SELECT n.*, rn <= top_n OR (rs <> 0 AND list_contains(watch, rs)) OR (rd <> 0 AND list_contains(watch, rd)) AS listed
    FROM (
        SELECT r.*,
               row_number() OVER (PARTITION BY host
                                  ORDER BY in_bytes + out_bytes DESC, in_packets + out_packets DESC, flows DESC, rs, rd) AS rn
        FROM rows r
    ) n, params
),
report_rows AS (
    SELECT host, rn AS ord, rs::VARCHAR AS sport, rd::VARCHAR AS dport,
           flows, in_packets, in_bytes, out_packets, out_bytes
    FROM ranked WHERE listed
    UNION ALL
    SELECT host, 1e18::BIGINT, '-1', '-1', sum(flows), sum(in_packets), sum(in_bytes), sum(out_packets), sum(out_bytes)
    FROM ranked WHERE NOT listed GROUP BY host
),
host_order AS (
    SELECT g.host, row_number() OVER (ORDER BY sum(in_bytes + out_bytes) DESC, any_value(h.v6), any_value(h.num)) AS host_rank
    FROM groups g JOIN hosts h ON h.ip = g.host
    GROUP BY g.host
)
SELECT o.host_rank,
       row_number() OVER (PARTITION BY o.host_rank ORDER BY r.ord) AS row,
       r.host AS ip,
       CASE r.sport WHEN '0' THEN '*' ELSE r.sport END AS sport,
       CASE r.dport WHEN '0' THEN '*' ELSE r.dport END AS dport,
       r.flows::BIGINT AS flows,
       r.in_packets::BIGINT AS in_packets, r.in_bytes::BIGINT AS in_bytes,
       r.out_packets::BIGINT AS out_packets, r.out_bytes::BIGINT AS out_bytes,
       (r.in_packets + r.out_packets)::BIGINT AS total_packets, (r.in_bytes + r.out_bytes)::BIGINT AS total_bytes
FROM report_rows r JOIN host_order o ON o.host = r.host, params
WHERE params.top_hosts IS NULL OR o.host_rank <= params.top_hosts
ORDER BY o.host_rank, row;
