-- The published resource catalog (政务信息资源目录), upserted from include/catalog/ on each run.
CREATE TABLE IF NOT EXISTS catalog.resource (
    resource_code        text PRIMARY KEY,            -- 信息资源代码
    resource_name        text NOT NULL,               -- 信息资源名称
    classification_code  text NOT NULL,               -- 信息资源分类
    provider_name        text NOT NULL,               -- 信息资源提供方
    provider_code        text NOT NULL,               -- 提供方代码
    summary              text NOT NULL,               -- 信息资源摘要
    resource_format      text NOT NULL,               -- 信息资源格式
    sharing_type         text NOT NULL,               -- 共享类型
    sharing_condition    text,                        -- 共享条件
    sharing_method       text NOT NULL,               -- 共享方式
    open_to_public       boolean NOT NULL,            -- 是否向社会开放
    open_condition       text,                        -- 开放条件
    update_cycle         text NOT NULL,               -- 更新周期
    publish_date         date NOT NULL,               -- 发布日期
    related_codes        text[] NOT NULL DEFAULT '{}',-- 关联资源代码
    target_table         text NOT NULL UNIQUE,
    entry_hash           text NOT NULL,               -- md5 of the entry, to skip unchanged upserts
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS catalog.resource_item (
    resource_code  text NOT NULL REFERENCES catalog.resource (resource_code) ON DELETE CASCADE,
    position       integer NOT NULL,
    item_name      text NOT NULL,      -- column name
    item_label     text NOT NULL,      -- 信息项名称 (Chinese)
    data_type      char(1) NOT NULL CHECK (data_type IN ('C','N','Y','D','T','L','M','G','B','I','F')),
    length         integer,
    nullable       boolean NOT NULL,
    is_key         boolean NOT NULL,
    is_personal    boolean NOT NULL,
    PRIMARY KEY (resource_code, item_name)
);
