// Glance's secure-RBAC policy defaults (glance/policies/{base,image,discovery}.py), same names and
// check strings. The target of an image policy is the image: project_id is its owner, member_id
// is the caller's project when it sees a shared image it does not own (Glance's ImageTarget).

const PROJECT_MEMBER = 'role:member and project_id:%(project_id)s';
const PROJECT_READER = 'role:reader and project_id:%(project_id)s';
const IMAGE_MEMBER_CHECK = 'project_id:%(member_id)s';
const COMMUNITY = "'community':%(visibility)s";
const PUBLIC = "'public':%(visibility)s";
const SHARED = "'shared':%(visibility)s";

const ADMIN = 'rule:context_is_admin';
const ADMIN_OR_PROJECT_MEMBER = `${ADMIN} or (${PROJECT_MEMBER})`;
const ADMIN_OR_PROJECT_READER = `${ADMIN} or (${PROJECT_READER})`;
const ADMIN_OR_PROJECT_READER_GET_IMAGE =
  `${ADMIN} or (role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK} or ${COMMUNITY} or ${PUBLIC} or ${SHARED}))`;
const ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE =
  `${ADMIN} or (role:member and (project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK} or ${COMMUNITY} or ${PUBLIC} or ${SHARED}))`;
const ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE = `${ADMIN} or (${PROJECT_MEMBER} and project_id:%(owner)s)`;
const ADMIN_OR_SHARED_MEMBER = `${ADMIN} or (role:member and ${IMAGE_MEMBER_CHECK})`;
const ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER =
  `${ADMIN} or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER_CHECK})`;

export const GLANCE_POLICY: Record<string, string> = {
  context_is_admin: 'role:admin',
  add_image: ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE,
  delete_image: ADMIN_OR_PROJECT_MEMBER,
  get_image: ADMIN_OR_PROJECT_READER_GET_IMAGE,
  get_images: ADMIN_OR_PROJECT_READER,
  modify_image: ADMIN_OR_PROJECT_MEMBER,
  publicize_image: ADMIN,
  communitize_image: ADMIN_OR_PROJECT_MEMBER,
  download_image: ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
  upload_image: ADMIN_OR_PROJECT_MEMBER,
  delete_image_location: ADMIN,
  get_image_location: ADMIN_OR_PROJECT_READER,
  set_image_location: ADMIN_OR_PROJECT_MEMBER,
  add_member: ADMIN_OR_PROJECT_MEMBER,
  delete_member: ADMIN_OR_PROJECT_MEMBER,
  get_member: ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
  get_members: ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
  modify_member: ADMIN_OR_SHARED_MEMBER,
  deactivate: ADMIN_OR_PROJECT_MEMBER,
  reactivate: ADMIN_OR_PROJECT_MEMBER,
  copy_image: ADMIN,
  stores_info_detail: `${ADMIN} or role:service`,
};
