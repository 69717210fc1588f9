-- Masking rules for consumers without personal-data access (catalog: an item's `mask:`).
-- Computed in the database by the masked consumer views (templates/masked_view), never stored.
-- Every function takes and returns text, is IMMUTABLE and PARALLEL SAFE, maps NULL to NULL, and
-- counts characters, not bytes (张 is one character). They are deliberately not STRICT: a single
-- expression without STRICT is inlined by the planner into the view's query (a STRICT one whose
-- body is a CASE is not), which masks 1,000,000 rows x 3 items in 1.0 s instead of 6.5 s.
-- Short values never leak: a citizen_id, phone or address that would keep its characters with
-- fewer than 4 hidden is starred in full (one * per character; **** for an address).
--   citizen_id  first 6 and last 4 kept, the middle starred: 360102199001011234 -> 360102********1234;
--               a 15-digit ID keeps 6 + 4 with 5 stars; anything of 13 characters or fewer
--               (a passport number, a pass number) is fully starred.
--   name        the surname kept, every other character starred: 张三 -> 张*, 李小龙 -> 李**,
--               欧阳娜娜 -> 欧阳** (a compound surname from masking.compound_surnames is kept whole
--               when the name has at least 3 characters); a one-character value -> *.
--   phone       first 3 and last 4 kept: 13800138000 -> 138****8000; 10 characters or fewer -> all *.
--   address     first 6 characters, then exactly **** (the length is not shown):
--               江西省南昌市东湖区八一大道1号 -> 江西省南昌市****; 9 characters or fewer -> ****.
-- Idempotent: the engine applies this file on every run (under its DDL lock).
CREATE SCHEMA IF NOT EXISTS masking;
COMMENT ON SCHEMA masking IS 'Masking functions for personal items (include/sql/ddl/050_masking.sql)';
-- The masked views call these functions with the consumer's privileges: everyone may use them.
GRANT USAGE ON SCHEMA masking TO PUBLIC;

-- keep_ends(value, head, tail): the first `head` and last `tail` characters with the middle
-- starred, or every character starred when fewer than 4 would be hidden (NULL: repeat gives NULL).
CREATE OR REPLACE FUNCTION masking.keep_ends(value text, head integer, tail integer) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN char_length(value) - head - tail >= 4
        THEN left(value, head) || repeat('*', char_length(value) - head - tail) || right(value, tail)
    ELSE repeat('*', char_length(value))
END;

CREATE OR REPLACE FUNCTION masking.citizen_id(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN masking.keep_ends(value, 6, 4);

CREATE OR REPLACE FUNCTION masking.phone(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN masking.keep_ends(value, 3, 4);

CREATE OR REPLACE FUNCTION masking.address(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN value IS NULL THEN NULL
    WHEN char_length(value) - 6 >= 4 THEN left(value, 6) || '****'
    ELSE '****'
END;

-- Compound surnames (复姓) kept whole by masking.name, from the 百家姓.
CREATE OR REPLACE FUNCTION masking.compound_surnames() RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['欧阳', '司马', '上官', '诸葛', '东方', '皇甫', '尉迟', '公孙', '慕容', '长孙', '宇文', '司徒',
             '令狐', '夏侯', '轩辕', '端木', '独孤', '南宫', '西门', '呼延', '闻人', '申屠', '澹台', '公冶',
             '太史', '钟离', '赫连', '万俟', '淳于', '濮阳', '宗政', '拓跋', '东郭', '公羊', '左丘', '鲜于',
             '闾丘', '司空', '漆雕', '乐正', '梁丘', '羊舌', '微生', '百里'];

CREATE OR REPLACE FUNCTION masking.name(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN char_length(value) >= 3 AND left(value, 2) = ANY (masking.compound_surnames())
        THEN left(value, 2) || repeat('*', char_length(value) - 2)
    WHEN char_length(value) >= 2
        THEN left(value, 1) || repeat('*', char_length(value) - 1)
    ELSE repeat('*', char_length(value))
END;

-- Explicit, in case a warehouse revokes EXECUTE from PUBLIC by default: a consumer of a masked
-- view runs these functions with its own privileges.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA masking TO PUBLIC;
